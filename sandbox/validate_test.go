package sandbox

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/crishim/crishim/internal/errdefs"
)

func testManager() *Manager {
	return &Manager{cfg: DefaultConfig()}
}

func TestValidateRejects(t *testing.T) {
	good := func() PodConfig { return PodConfig{Name: "n", Namespace: "ns", UID: "u"} }
	cases := map[string]struct {
		mut   func(c *PodConfig)
		field string
	}{
		"empty name":      {func(c *PodConfig) { c.Name = "" }, "metadata.name"},
		"empty namespace": {func(c *PodConfig) { c.Namespace = "" }, "metadata.namespace"},
		"empty uid":       {func(c *PodConfig) { c.UID = "" }, "metadata.uid"},
		"handler":         {func(c *PodConfig) { c.RuntimeHandler = "kata" }, "runtime_handler"},
		"target no id":    {func(c *PodConfig) { c.Namespaces.PID = NamespaceModeTarget }, "target_id"},
		"net container":   {func(c *PodConfig) { c.Namespaces.Network = NamespaceModeContainer }, "namespace_options.network"},
		"host net sysctl": {func(c *PodConfig) {
			c.Namespaces.Network = NamespaceModeNode
			c.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "linux.sysctls"},
		"host ipc sysctl": {func(c *PodConfig) {
			c.Namespaces.IPC = NamespaceModeNode
			c.Sysctls = map[string]string{"kernel.shmmax": "1"}
		}, "linux.sysctls"},
		"not namespaced": {func(c *PodConfig) { c.Sysctls = map[string]string{"vm.swappiness": "1"} }, "linux.sysctls"},
		"cgroup parent":  {func(c *PodConfig) { c.CgroupParent = "relative/x" }, "cgroup_parent"},
		"userns no maps": {func(c *PodConfig) { c.Namespaces.UserNS = &UserNamespace{Mode: NamespaceModePod} }, "userns_options"},
		"userns hostnet": {func(c *PodConfig) {
			c.Namespaces.Network = NamespaceModeNode
			c.Namespaces.UserNS = &UserNamespace{Mode: NamespaceModePod,
				UIDs: []IDMapping{{0, 100000, 65536}}, GIDs: []IDMapping{{0, 100000, 65536}}}
		}, "userns_options"},
		"userns two mappings": {func(c *PodConfig) {
			two := []IDMapping{{0, 1000, 100000}, {0, 2000, 100000}}
			c.Namespaces.UserNS = &UserNamespace{Mode: NamespaceModePod, UIDs: two, GIDs: two}
		}, "exactly one is supported"},
		"userns root unmapped": {func(c *PodConfig) {
			m := []IDMapping{{1, 1000, 100000}}
			c.Namespaces.UserNS = &UserNamespace{Mode: NamespaceModePod, UIDs: m, GIDs: m}
		}, "container id 0 is not mapped"},
		"port": {func(c *PodConfig) { c.PortMappings = []PortMapping{{ContainerPort: 0}} }, "port_mappings"},
		// Issue 14 item 7: names that cannot be a path component or a key part.
		"name dot":          {func(c *PodConfig) { c.Name = "." }, "metadata.name"},
		"name dotdot":       {func(c *PodConfig) { c.Name = ".." }, "metadata.name"},
		"name slash":        {func(c *PodConfig) { c.Name = "a/b" }, "metadata.name"},
		"name too long":     {func(c *PodConfig) { c.Name = strings.Repeat("n", 254) }, "metadata.name"},
		"namespace dotdot":  {func(c *PodConfig) { c.Namespace = ".." }, "metadata.namespace"},
		"namespace slash":   {func(c *PodConfig) { c.Namespace = "/" }, "metadata.namespace"},
		"namespace long":    {func(c *PodConfig) { c.Namespace = strings.Repeat("n", 254) }, "metadata.namespace"},
		"uid dot":           {func(c *PodConfig) { c.UID = "." }, "metadata.uid"},
		"uid slash":         {func(c *PodConfig) { c.UID = "u/v" }, "metadata.uid"},
		"uid too long":      {func(c *PodConfig) { c.UID = strings.Repeat("u", 254) }, "metadata.uid"},
		"name control char": {func(c *PodConfig) { c.Name = "a\nb" }, "metadata.name"},
		// Issue 14 item 8: Kubernetes' 256 KiB bound on labels plus annotations.
		"metadata too big": {func(c *PodConfig) {
			c.Labels = map[string]string{"l": strings.Repeat("x", 128<<10)}
			c.Annotations = map[string]string{"a": strings.Repeat("y", 128<<10)}
		}, "labels and annotations"},
	}
	m := testManager()
	for name, tc := range cases {
		c := good()
		tc.mut(&c)
		err := m.validate(&c)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v, want InvalidArgument naming %s", name, err, tc.field)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	m := testManager()
	c := PodConfig{Name: strings.Repeat("n", 253), Namespace: "ns", UID: "u", RuntimeHandler: DefaultHandlerName,
		Labels: map[string]string{"l": strings.Repeat("x", 128<<10)}, Annotations: map[string]string{"a": "b"},
		Sysctls:    map[string]string{"net.core.somaxconn": "1024", "kernel.shm_rmid_forced": "1", "kernel.sem": "1 2 3 4", "fs.mqueue.msg_max": "10"},
		Namespaces: NamespaceOptions{PID: NamespaceModeTarget, TargetID: "abc"}}
	if err := m.validate(&c); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.ShmSizeBytes = 0
	c.RuntimeHandlers = append(c.RuntimeHandlers, HandlerConfig{Name: DefaultHandlerName})
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "shm_size_bytes") || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("got %v", err)
	}
}

func TestRuntimeHandlers(t *testing.T) {
	hs := testManager().RuntimeHandlers()
	if len(hs) != 2 || hs[0].Name != "" || hs[1].Name != DefaultHandlerName || !hs[0].SupportsUserNamespaces {
		t.Fatalf("handlers %+v", hs)
	}
}

func TestResolvConf(t *testing.T) {
	got := string(resolvConf(&DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"a.svc", "b"}, Options: []string{"ndots:5"}}))
	want := "nameserver 10.0.0.10\nsearch a.svc b\noptions ndots:5\n"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if !dnsEmpty(&DNSConfig{}) || dnsEmpty(&DNSConfig{Options: []string{"x"}}) {
		t.Fatal("dnsEmpty")
	}
}

func TestParseNSArgs(t *testing.T) {
	r := nsRequest{PodID: "p1", NetPin: "/x/net", UTSPin: "/x/uts", Hostname: "h"}
	got, err := parseNSArgs(r.args("pod-ns"))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// TestNameKeyNoCollision (issue 14 item 7): name "a_b" in namespace "c" and name "a" in
// namespace "b_c" are two pods, not one name held twice.
func TestNameKeyNoCollision(t *testing.T) {
	pairs := [][2][3]string{
		{{"a_b", "c", "u"}, {"a", "b_c", "u"}},
		{{"a", "b", "c_1"}, {"a", "b_c", "1"}},
	}
	for _, p := range pairs {
		x, y := p[0], p[1]
		if nameKey(x[0], x[1], x[2], 0) == nameKey(y[0], y[1], y[2], 0) {
			t.Errorf("pods %v and %v share the name key %q", x, y, nameKey(x[0], x[1], x[2], 0))
		}
	}
}
