package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// KubeletConfig is what the runner sets in a standalone kubelet's KubeletConfiguration: no API
// server, static pods only, the runtime under test as its CRI endpoint.
type KubeletConfig struct {
	// RootDir is the kubelet's --root-dir; the configuration, its certificates and its volume
	// plugin dir go below it too.
	RootDir string
	// StaticPodPath is the directory of static pod manifests.
	StaticPodPath string
	// Endpoint is the CRI socket path.
	Endpoint string
	// Port is the kubelet's HTTPS port on 127.0.0.1.
	Port int
	// CgroupRoot is the cgroupfs parent under which the kubelet creates kubepods/ (it must
	// exist in every hierarchy before the kubelet starts).
	CgroupRoot string
	// PodCIDR is the node's pod CIDR (standalone kubelets take it from their configuration and
	// hand it to the runtime through UpdateRuntimeConfig).
	PodCIDR string
}

// Write writes the KubeletConfiguration (JSON, which the kubelet reads as YAML) into RootDir and
// returns its path.
func (c KubeletConfig) Write() (string, error) {
	cfg := map[string]any{
		"apiVersion":               "kubelet.config.k8s.io/v1beta1",
		"kind":                     "KubeletConfiguration",
		"staticPodPath":            c.StaticPodPath,
		"fileCheckFrequency":       "1s",
		"containerRuntimeEndpoint": "unix://" + c.Endpoint,
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               c.CgroupRoot,
		"podCIDR":                  c.PodCIDR,
		"failSwapOn":               false,
		"address":                  "127.0.0.1",
		"port":                     c.Port,
		"readOnlyPort":             0,
		"healthzPort":              0, // /healthz is served on port too
		"volumePluginDir":          filepath.Join(c.RootDir, "volume-plugins"),
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": true},
			"webhook":   map[string]any{"enabled": false},
		},
		"authorization": map[string]any{"mode": "AlwaysAllow"},
		// A busy test machine must not evict the test's pods or collect its images.
		"evictionHard":                map[string]string{"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.RootDir, "kubelet-config.json")
	return path, os.WriteFile(path, data, 0o644)
}

// KubeletClient talks to a kubelet's HTTPS API (self-signed certificate, anonymous access).
type KubeletClient struct {
	Base string
	http *http.Client
}

// NewKubeletClient returns a client of the kubelet serving on 127.0.0.1:port.
func NewKubeletClient(port int) *KubeletClient {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the kubelet's own self-signed cert
	return &KubeletClient{
		Base: "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		http: &http.Client{Transport: tr, Timeout: 60 * time.Second},
	}
}

// Do sends a request and returns the body; a status other than 200 is an error with the body.
func (k *KubeletClient) Do(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, k.Base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// KubePod is the part of a v1.Pod the tests read.
type KubePod struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	} `json:"metadata"`
	Status struct {
		Phase             string            `json:"phase"`
		PodIP             string            `json:"podIP"`
		ContainerStatuses []KubeContainerSt `json:"containerStatuses"`
	} `json:"status"`
}

// KubeContainerSt is the part of a v1.ContainerStatus the tests read.
type KubeContainerSt struct {
	Name         string `json:"name"`
	RestartCount int    `json:"restartCount"`
	Ready        bool   `json:"ready"`
	ContainerID  string `json:"containerID"`
	State        struct {
		Running    *struct{} `json:"running"`
		Waiting    *struct{ Reason, Message string }
		Terminated *struct {
			ExitCode int    `json:"exitCode"`
			Reason   string `json:"reason"`
		} `json:"terminated"`
	} `json:"state"`
}

// Container returns the status of the container called name (nil when none).
func (p KubePod) Container(name string) *KubeContainerSt {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// Pods returns the kubelet's pods (GET /pods: static pods carry their status).
func (k *KubeletClient) Pods(ctx context.Context) ([]KubePod, error) {
	body, err := k.Do(ctx, http.MethodGet, "/pods")
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []KubePod `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("GET /pods: %w", err)
	}
	return list.Items, nil
}

// Logs returns a container's log (GET /containerLogs/NS/POD/CONTAINER).
func (k *KubeletClient) Logs(ctx context.Context, ns, pod, container string) (string, error) {
	body, err := k.Do(ctx, http.MethodGet, "/containerLogs/"+ns+"/"+pod+"/"+container)
	return string(body), err
}

// Run runs a command in a container and returns its output (POST /run/NS/POD/CONTAINER; the
// kubelet splits cmd at spaces).
func (k *KubeletClient) Run(ctx context.Context, ns, pod, container, cmd string) (string, error) {
	body, err := k.Do(ctx, http.MethodPost, "/run/"+ns+"/"+pod+"/"+container+"?cmd="+url.QueryEscape(cmd))
	return string(body), err
}

// WriteManifest writes a static pod manifest atomically (the kubelet polls the directory and
// ignores dot files, so it never reads a half-written one).
func WriteManifest(dir, name string, pod map[string]any) error {
	data, err := json.MarshalIndent(pod, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+name+".json")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name+".json"))
}

// klogError matches a klog error line: "E1203 18:10:00.123456   1234 file.go:12] message".
var klogError = regexp.MustCompile(`^E\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ (\S+:\d+)\] (.*)$`)

// klogRemove matches the kubelet's note that it removes a container.
var klogRemove = regexp.MustCompile(`"RemoveContainer" containerID="([0-9a-f]+)"`)

// AllowedError is a kubelet error line that says nothing wrong about the runtime under test.
type AllowedError struct {
	Pattern *regexp.Regexp
	// Why says why the line is harmless.
	Why string
	// AfterRemove allows the line only when Pattern's first submatch is a container id the
	// kubelet logged "RemoveContainer" for on an earlier line.
	AfterRemove bool
}

// KubeletErrors returns the error lines of a kubelet log that no entry of allowed accepts.
func KubeletErrors(log string, allowed []AllowedError) []string {
	var bad []string
	removed := map[string]bool{}
	for _, l := range strings.Split(log, "\n") {
		if m := klogRemove.FindStringSubmatch(l); m != nil {
			removed[m[1]] = true
		}
		if !klogError.MatchString(l) || isAllowed(l, allowed, removed) {
			continue
		}
		bad = append(bad, l)
	}
	return bad
}

func isAllowed(line string, allowed []AllowedError, removed map[string]bool) bool {
	for _, a := range allowed {
		m := a.Pattern.FindStringSubmatch(line)
		if m != nil && (!a.AfterRemove || len(m) > 1 && removed[m[1]]) {
			return true
		}
	}
	return false
}

// BuildKubelet runs hack/build-kubelet.sh (which skips the build when the cached binary matches
// the pin) and returns the binary's path.
func BuildKubelet(ctx context.Context, repoRoot string, out io.Writer) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "hack", "build-kubelet.sh"), filepath.Join(repoRoot, "_output"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/build-kubelet.sh: %w", err)
	}
	return filepath.Join(repoRoot, "_output", "kubelet"), nil
}
