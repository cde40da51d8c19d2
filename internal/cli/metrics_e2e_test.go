package cli_test

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/cli"
	"github.com/zombietrace/zombietrace/internal/scenario"
	"github.com/zombietrace/zombietrace/internal/tracetest"
)

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestMetricsAddressInUse(t *testing.T) {
	tracetest.RequireBPF(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, err := exec.Command(binary, "--metrics-addr", l.Addr().String()).CombinedOutput()
	exit, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("zombietrace with a port in use: %v\n%s", err, out)
	}
	if exit.ExitCode() != cli.ExitFailure {
		t.Errorf("exit code = %d, want %d", exit.ExitCode(), cli.ExitFailure)
	}
	if !strings.Contains(string(out), "listen on --metrics-addr") {
		t.Errorf("message does not name the flag:\n%s", out)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	tracetest.RequireBPF(t)
	addr := freeLoopbackAddr(t)
	tr := startTracer(t, "--min-age", "300ms", "--metrics-addr", addr)
	base := "http://" + addr

	var code int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if code, _ = get(t, base+"/readyz"); code == http.StatusOK {
			break
		}
	}
	if code != http.StatusOK {
		t.Fatalf("/readyz = %d, want 200", code)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}

	run := scenario.Start(t, "nowait", "--count", "3")
	tr.waitRecord(t, lingeringFor(run.Zombies[2]), 5*time.Second)
	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		`zombietrace_lingering_zombies{`,
		`parent_comm="zombiegen"`,
		`zombietrace_bpf_attached 1`,
		`zombietrace_build_info{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
