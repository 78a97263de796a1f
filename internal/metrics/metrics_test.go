package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

func TestServeExposesRPCAndGauges(t *testing.T) {
	m := New()
	m.ObserveRPC("RunPodSandbox", codes.OK, 3*time.Millisecond)
	m.ObserveRPC("RunPodSandbox", codes.InvalidArgument, time.Millisecond)
	if err := m.Register(GaugeFunc("containers", "Containers by state.", "state", func() map[string]float64 {
		return map[string]float64{"running": 2, "exited": 1}
	})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		`crishim_grpc_requests_total{method="RunPodSandbox"} 2`,
		`crishim_grpc_request_errors_total{code="InvalidArgument",method="RunPodSandbox"} 1`,
		`crishim_grpc_request_duration_seconds_count{method="RunPodSandbox"} 2`,
		`crishim_containers{state="running"} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestPullsAndGauge(t *testing.T) {
	m := New()
	p, err := m.Pulls()
	if err != nil {
		t.Fatal(err)
	}
	p.Observe(1000, 2*time.Second, true)
	p.Observe(24, time.Second, false)
	if err := m.Register(Gauge("monitors", "Pod monitors.", func() float64 { return 3 })); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`crishim_image_pull_bytes_total 1024`,
		`crishim_image_pull_duration_seconds_count{result="success"} 1`,
		`crishim_image_pull_duration_seconds_count{result="failure"} 1`,
		`crishim_monitors 3`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
