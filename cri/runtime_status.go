package cri

import (
	"context"
	"encoding/json"
	"regexp"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Status reports the RuntimeReady and NetworkReady conditions, the runtime handlers with their
// features, and (verbose) the daemon's configuration as JSON.
func (s *Server) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	conds := []*runtimeapi.RuntimeCondition{s.runtimeCondition(ctx), s.networkCondition(ctx)}
	resp := &runtimeapi.StatusResponse{
		Status:          &runtimeapi.RuntimeStatus{Conditions: conds},
		RuntimeHandlers: s.runtimeHandlers(),
		Features:        s.runtimeFeatures(),
	}
	if req.GetVerbose() {
		resp.Info = map[string]string{}
		for k, v := range s.opts.Info {
			b, err := redactedJSON(v)
			if err != nil {
				return nil, err
			}
			resp.Info[k] = string(b)
		}
	}
	return resp, nil
}

func (s *Server) runtimeCondition(ctx context.Context) *runtimeapi.RuntimeCondition {
	return &runtimeapi.RuntimeCondition{Type: runtimeapi.RuntimeReady, Status: true}
}

func (s *Server) networkCondition(ctx context.Context) *runtimeapi.RuntimeCondition {
	c := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady}
	switch {
	case s.opts.Network == nil:
		c.Reason, c.Message = "NetworkPluginNotReady", "no pod network is configured"
	default:
		if err := s.opts.Network.Status(ctx); err != nil {
			c.Reason, c.Message = "NetworkPluginNotReady", err.Error()
		} else {
			c.Status = true
		}
	}
	return c
}

// runtimeHandlers lists the runtime handlers with their features; the default handler has the
// empty name.
func (s *Server) runtimeHandlers() []*runtimeapi.RuntimeHandler {
	if s.opts.Sandboxes == nil {
		return []*runtimeapi.RuntimeHandler{{Name: "", Features: &runtimeapi.RuntimeHandlerFeatures{}}}
	}
	var out []*runtimeapi.RuntimeHandler
	for _, h := range s.opts.Sandboxes.RuntimeHandlers() {
		out = append(out, &runtimeapi.RuntimeHandler{Name: h.Name, Features: &runtimeapi.RuntimeHandlerFeatures{
			UserNamespaces: h.SupportsUserNamespaces, RecursiveReadOnlyMounts: h.SupportsRecursiveReadOnlyMounts,
		}})
	}
	return out
}

// runtimeFeatures advertises what the runtime implements for every handler. Supplemental
// groups policies (Merge, Strict) and the effective user in ContainerStatus are implemented by
// the runtime package.
func (s *Server) runtimeFeatures() *runtimeapi.RuntimeFeatures {
	return &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true}
}

// secretKey matches configuration keys whose values are credentials (registry password and
// identity_token, tokens, secrets, auth headers), in snake_case or Go field names.
var secretKey = regexp.MustCompile(`(?i)(passw|secret|token|credential|^auth$|_auth$|^auth_|privatekey|private_key)`)

// redactedJSON renders v as JSON with every secret value replaced by "<redacted>": verbose
// Status is readable by anyone who may talk to the socket and ends up in bug reports.
func redactedJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		return nil, err
	}
	return json.Marshal(redact(tree))
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if secretKey.MatchString(k) && e != nil && e != "" {
				t[k] = "<redacted>"
				continue
			}
			t[k] = redact(e)
		}
	case []any:
		for i, e := range t {
			t[i] = redact(e)
		}
	}
	return v
}
