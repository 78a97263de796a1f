package sandbox

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// nsGetUserNS is the nsfs ioctl NS_GET_USERNS (_IO(0xb7, 0x1)): it returns a descriptor of the
// user namespace owning a namespace.
const nsGetUserNS = 0xb701

// nsInode returns the inode of the namespace at path.
func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

// ownerInode returns the inode of the user namespace owning the namespace at path.
func ownerInode(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.IoctlRetInt(int(f.Fd()), nsGetUserNS)
	if err != nil {
		t.Fatalf("NS_GET_USERNS %s: %v", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestRootUserNamespacePod: a pod with a user namespace gets it pinned, with the requested
// mappings and setgroups allowed, and its net, ipc, uts and pid namespaces are owned by it;
// a pod without one keeps the host's user namespace as owner. Nothing is left after Remove.
func TestRootUserNamespacePod(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, &fakeNetwork{attached: map[string]bool{}})
	ctx := context.Background()
	c := podConfig("userns")
	c.Namespaces.PID = NamespaceModePod
	mapping := []IDMapping{{ContainerID: 0, HostID: 1000, Size: 100000}}
	c.Namespaces.UserNS = &UserNamespace{Mode: NamespaceModePod, UIDs: mapping, GIDs: mapping}
	sb, err := m.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if sb.UserNSPath == "" || !isNsfs(sb.UserNSPath) || sb.InfraPID <= 0 || len(sb.IPs) != 1 {
		t.Fatalf("sandbox %+v", sb)
	}
	userIno := nsInode(t, sb.UserNSPath)
	if userIno == nsInode(t, "/proc/self/ns/user") {
		t.Fatal("pod user namespace is the host's")
	}
	for _, p := range []string{sb.NetNSPath, sb.IPCNSPath, sb.UTSNSPath, sb.PIDNSPath} {
		if got := ownerInode(t, p); got != userIno {
			t.Errorf("%s owned by user ns %d, want the pod's %d", p, got, userIno)
		}
	}
	if got := nsInode(t, fmt.Sprintf("/proc/%d/ns/user", sb.InfraPID)); got != userIno {
		t.Errorf("infra in user ns %d, want %d", got, userIno)
	}
	for f, want := range map[string]string{"uid_map": "0 1000 100000", "gid_map": "0 1000 100000", "setgroups": "allow"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", sb.InfraPID, f))
		if got := strings.Join(strings.Fields(string(b)), " "); got != want {
			t.Errorf("infra %s = %q, want %q", f, got, want)
		}
	}
	checkInfraConfined(t, sb.InfraPID, "66535") // uid 65535 of the pod: host 1000+65535
	inNS(t, sb.UTSNSPath, unix.CLONE_NEWUTS, func() {
		var u unix.Utsname
		unix.Uname(&u)
		if got := unix.ByteSliceToString(u.Nodename[:]); got != "host-userns" {
			t.Errorf("hostname in pod uts ns = %q", got)
		}
	})

	// Without a user namespace (helper path) the namespaces stay owned by the host's.
	plain, err := m.Run(ctx, podConfig("plain"))
	if err != nil {
		t.Fatal(err)
	}
	if plain.UserNSPath != "" {
		t.Errorf("plain pod has a user namespace pin %q", plain.UserNSPath)
	}
	if got, host := ownerInode(t, plain.NetNSPath), nsInode(t, "/proc/self/ns/user"); got != host {
		t.Errorf("plain pod netns owned by %d, want the host's %d", got, host)
	}
	for _, id := range []string{sb.ID, plain.ID} {
		if err := m.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(sb.UserNSPath); !os.IsNotExist(err) {
		t.Errorf("user namespace pin left: %v", err)
	}
}

// TestRootUserNamespaceHelper: a user-namespaced pod without a shared PID namespace (no
// infra) gets its namespaces from the short-lived helper, still owned by the pod's userns.
func TestRootUserNamespaceHelper(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	c := podConfig("userns-helper")
	mapping := []IDMapping{{ContainerID: 0, HostID: 200000, Size: 65536}}
	c.Namespaces.UserNS = &UserNamespace{Mode: NamespaceModePod, UIDs: mapping, GIDs: mapping}
	sb, err := m.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if sb.InfraPID != 0 || !isNsfs(sb.UserNSPath) {
		t.Fatalf("sandbox %+v", sb)
	}
	userIno := nsInode(t, sb.UserNSPath)
	for _, p := range []string{sb.NetNSPath, sb.IPCNSPath, sb.UTSNSPath} {
		if got := ownerInode(t, p); got != userIno {
			t.Errorf("%s owned by user ns %d, want the pod's %d", p, got, userIno)
		}
	}
	if err := m.Remove(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
}
