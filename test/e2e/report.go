// Package e2e runs the CRI validation suite (critest, from sigs.k8s.io/cri-tools) against the
// shim daemon — or any CRI endpoint — fully offline, and checks the result against the
// committed list of specs still expected to fail (expected-failures.txt).
//
// The pieces are usable on their own: the report parser and the expected-failure comparison,
// the daemon runner, the config writers and the leak check.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Spec states of a Ginkgo report that count as a pass or a skip; every other state of a spec
// that ran (failed, panicked, interrupted, aborted, timedout) is a failure.
const (
	statePassed  = "passed"
	stateSkipped = "skipped"
	statePending = "pending"
)

// Summary is the outcome of one critest run, spec names sorted.
type Summary struct {
	Passed, Failed, Skipped []string
	// Failures maps a failed spec to its failure message.
	Failures map[string]string
	// SuiteProblems lists suite-level failures (BeforeSuite, suite timeout, interruption).
	SuiteProblems []string
}

// String returns the one-line summary the runner prints.
func (s Summary) String() string {
	return fmt.Sprintf("critest: %d passed, %d failed, %d skipped", len(s.Passed), len(s.Failed), len(s.Skipped))
}

// ginkgoReport is the subset of a Ginkgo v2 JSON report (--ginkgo.json-report) that is read.
type ginkgoReport struct {
	SuiteSucceeded             bool
	SpecialSuiteFailureReasons []string
	SpecReports                []struct {
		ContainerHierarchyTexts []string
		LeafNodeType            string
		LeafNodeText            string
		State                   string
		Failure                 struct{ Message string }
	}
}

// ParseReport reads a Ginkgo JSON report written by critest.
func ParseReport(path string) (Summary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Summary{}, fmt.Errorf("critest report: %w", err)
	}
	var reports []ginkgoReport
	if err := json.Unmarshal(data, &reports); err != nil {
		return Summary{}, fmt.Errorf("critest report %s: %w", path, err)
	}
	s := Summary{Failures: map[string]string{}}
	for _, r := range reports {
		s.SuiteProblems = append(s.SuiteProblems, r.SpecialSuiteFailureReasons...)
		for _, spec := range r.SpecReports {
			if spec.LeafNodeType != "It" {
				if spec.State != statePassed && spec.State != stateSkipped {
					s.SuiteProblems = append(s.SuiteProblems, spec.LeafNodeType+" "+spec.State+": "+firstLine(spec.Failure.Message))
				}
				continue
			}
			name := SpecName(spec.ContainerHierarchyTexts, spec.LeafNodeText)
			switch spec.State {
			case statePassed:
				s.Passed = append(s.Passed, name)
			case stateSkipped, statePending:
				s.Skipped = append(s.Skipped, name)
			default:
				s.Failed = append(s.Failed, name)
				s.Failures[name] = spec.State + ": " + spec.Failure.Message
			}
		}
	}
	sort.Strings(s.Passed)
	sort.Strings(s.Failed)
	sort.Strings(s.Skipped)
	return s, nil
}

// SpecName is a spec's full name: its container texts and its own text joined by spaces, the
// string --ginkgo.focus and --ginkgo.skip match.
func SpecName(containers []string, leaf string) string {
	return strings.Join(append(append([]string(nil), containers...), leaf), " ")
}

// Brief returns msg on one line, whitespace collapsed, at most 300 bytes.
func Brief(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// ReadExpected reads an expected-failure list: one full spec name per line; blank lines and
// lines starting with # are ignored. A missing file is an empty list.
func ReadExpected(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	expected := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		expected[line] = true
	}
	return expected, sc.Err()
}

// WriteExpected rewrites path with the failed specs of s under header (comment lines).
func WriteExpected(path string, header []string, s Summary) error {
	var b strings.Builder
	for _, h := range header {
		b.WriteString("# " + h + "\n")
	}
	for _, name := range s.Failed {
		b.WriteString(name + "\n")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Comparison is the difference between a run and the expected-failure list.
type Comparison struct {
	// NewFailures failed but are not listed.
	NewFailures []string
	// NowPassing are listed but passed: remove them from the list.
	NowPassing []string
	// NotRun are listed but were skipped or absent from the report (informational).
	NotRun []string
}

// OK reports whether the run matches the list.
func (c Comparison) OK() bool { return len(c.NewFailures) == 0 && len(c.NowPassing) == 0 }

// Compare compares a run with the expected-failure list.
func Compare(s Summary, expected map[string]bool) Comparison {
	var c Comparison
	seen := map[string]bool{}
	for _, name := range s.Failed {
		seen[name] = true
		if !expected[name] {
			c.NewFailures = append(c.NewFailures, name)
		}
	}
	for _, name := range s.Passed {
		seen[name] = true
		if expected[name] {
			c.NowPassing = append(c.NowPassing, name)
		}
	}
	for name := range expected {
		if !seen[name] {
			c.NotRun = append(c.NotRun, name)
		}
	}
	sort.Strings(c.NotRun)
	return c
}
