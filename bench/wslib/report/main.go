// Command report prints the websocket-library comparison of one or more
// bench/run.sh results directories as Markdown tables: every server found
// (parley, the wslib-* variants, node, zishang), then each one's ratio to
// Parley and to Node. bench/run.sh runs it when a wslib-* server was
// measured; loadgen's own -report knows only parley, node and zishang.
//
//	report bench/results/wslib-1 [bench/results/wslib-2 ...]
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// order is the column order; servers without results are left out.
var order = []string{"parley", "wslib-gobwas", "wslib-gorilla", "wslib-coder", "node", "zishang"}

// result is the subset of a loadgen RESULT line the report reads.
type result struct {
	Error                  string    `json:"error"`
	MaxSustainedDeliveries float64   `json:"maxSustainedDeliveries"`
	MaxSustainedP99        float64   `json:"maxSustainedP99Ms"`
	Saturated              bool      `json:"saturated"`
	Steps                  []step    `json:"steps"`
	BytesPerConn           float64   `json:"bytesPerConn"`
	AcksPerSec             float64   `json:"acksPerSec"`
	Latency                latency   `json:"latency"`
	CPUPressure            []float64 `json:"cpuPressure"`
}

type step struct {
	Rate    float64 `json:"rateMsgs"`
	Latency latency `json:"latency"`
	Loss    int64   `json:"loss"`
	Pass    bool    `json:"pass"`
	Failure string  `json:"failure"`
}

type latency struct {
	N   int64   `json:"n"`
	P50 float64 `json:"p50Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

// metric is one row.
type metric struct {
	name       string
	scenario   string
	get        func(r *result) (float64, bool)
	format     string
	higherWins bool
}

func firstStep(f func(s *step) float64) func(r *result) (float64, bool) {
	return func(r *result) (float64, bool) {
		if len(r.Steps) == 0 {
			return 0, false
		}
		return f(&r.Steps[0]), true
	}
}

var metrics = []metric{
	{"fan-out max sustained deliveries/s", "fanout", func(r *result) (float64, bool) { return r.MaxSustainedDeliveries, len(r.Steps) > 0 }, "%.0f", true},
	{"fan-out p99 at max sustained (ms)", "fanout", func(r *result) (float64, bool) { return r.MaxSustainedP99, r.MaxSustainedDeliveries > 0 }, "%.1f", false},
	{"latency p50 at 40 msg/s (ms)", "latency", firstStep(func(s *step) float64 { return s.Latency.P50 }), "%.1f", false},
	{"latency p99 at 40 msg/s (ms)", "latency", firstStep(func(s *step) float64 { return s.Latency.P99 }), "%.1f", false},
	{"latency max at 40 msg/s (ms)", "latency", firstStep(func(s *step) float64 { return s.Latency.Max }), "%.1f", false},
	{"latency loss", "latency", firstStep(func(s *step) float64 { return float64(s.Loss) }), "%.0f", false},
	{"bytes per idle connection", "idle", func(r *result) (float64, bool) { return r.BytesPerConn, r.BytesPerConn != 0 }, "%.0f", false},
	{"echo acks/s", "echo", func(r *result) (float64, bool) { return r.AcksPerSec, r.AcksPerSec > 0 }, "%.0f", true},
	{"echo rtt p99 (ms)", "echo", func(r *result) (float64, bool) { return r.Latency.P99, r.Latency.N > 0 }, "%.2f", false},
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: report RESULTS_DIR...")
		os.Exit(2)
	}
	for _, dir := range os.Args[1:] {
		if err := report(os.Stdout, dir); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
}

func load(dir string) (map[string]*result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]*result{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = &r
	}
	return out, nil
}

func report(w io.Writer, dir string) error {
	rs, err := load(dir)
	if err != nil {
		return err
	}
	var present []string
	for _, s := range order {
		for _, m := range metrics {
			if rs[s+"-"+m.scenario] != nil {
				present = append(present, s)
				break
			}
		}
	}
	if len(present) == 0 {
		return errors.New("no results in " + dir)
	}
	// vals[metric][server]
	vals := make([]map[string]float64, len(metrics))
	fmt.Fprintf(w, "\nWebsocket libraries, results in %s\n\n", dir)
	fmt.Fprintf(w, "| metric | %s |\n|---|%s\n", strings.Join(present, " | "), strings.Repeat("---:|", len(present)))
	for i, m := range metrics {
		vals[i] = map[string]float64{}
		cells := make([]string, len(present))
		any := false
		for j, s := range present {
			cells[j] = "–"
			r := rs[s+"-"+m.scenario]
			if r == nil {
				continue
			}
			any = true
			v, ok := m.get(r)
			if !ok {
				if r.Error != "" {
					cells[j] = "error"
				}
				continue
			}
			vals[i][s] = v
			cells[j] = group(fmt.Sprintf(m.format, v))
			if m.higherWins && m.scenario == "fanout" && !r.Saturated && v > 0 {
				cells[j] = "≥" + cells[j]
			}
			if r.Error != "" {
				cells[j] += "!"
			}
		}
		if any {
			fmt.Fprintf(w, "| %s | %s |\n", m.name, strings.Join(cells, " | "))
		}
	}
	// Why each fan-out run stopped: the first failing step.
	cells := make([]string, len(present))
	anyFail := false
	for j, s := range present {
		cells[j] = "–"
		r := rs[s+"-fanout"]
		if r == nil {
			continue
		}
		cells[j] = "none"
		for _, st := range r.Steps {
			if !st.Pass {
				cells[j] = fmt.Sprintf("%.0f msg/s: %s", st.Rate, st.Failure)
				anyFail = true
				break
			}
		}
	}
	if anyFail {
		fmt.Fprintf(w, "| fan-out first failing step | %s |\n", strings.Join(cells, " | "))
	}
	for _, base := range []string{"parley", "node"} {
		printRatios(w, base, present, vals)
	}
	fmt.Fprintln(w, "\n≥ = every fan-out step passed (not saturated); ! = the run reported an error.")
	fmt.Fprintln(w, "Ratios: for deliveries/s and acks/s higher is better; for latency and bytes lower is better.")
	for _, s := range present {
		for _, sc := range []string{"fanout", "latency", "idle", "echo"} {
			if r := rs[s+"-"+sc]; r != nil && r.Error != "" {
				fmt.Fprintf(w, "note: %s %s: %s\n", s, sc, r.Error)
			}
			if r := rs[s+"-"+sc]; r != nil && len(r.CPUPressure) == 2 && max(r.CPUPressure[0], r.CPUPressure[1]) > 20 {
				fmt.Fprintf(w, "warning: %s %s: CPU pressure %.0f%% -> %.0f%% (other processes competed for the CPUs)\n",
					s, sc, r.CPUPressure[0], r.CPUPressure[1])
			}
		}
	}
	return nil
}

// printRatios prints every other server's value divided by base's.
func printRatios(w io.Writer, base string, present []string, vals []map[string]float64) {
	var others []string
	have := false
	for _, s := range present {
		if s == base {
			have = true
			continue
		}
		others = append(others, s)
	}
	if !have || len(others) == 0 {
		return
	}
	fmt.Fprintf(w, "\nRatio to %s\n\n| metric | %s |\n|---|%s\n", base, strings.Join(others, " | "), strings.Repeat("---:|", len(others)))
	for i, m := range metrics {
		b, ok := vals[i][base]
		// Loss is a count, and fan-out p99s are taken at different rates.
		if !ok || b == 0 || m.name == "latency loss" || strings.HasPrefix(m.name, "fan-out p99") {
			continue
		}
		cells := make([]string, len(others))
		for j, s := range others {
			cells[j] = "–"
			if v, ok := vals[i][s]; ok {
				cells[j] = fmt.Sprintf("%.2f×", v/b)
			}
		}
		fmt.Fprintf(w, "| %s | %s |\n", m.name, strings.Join(cells, " | "))
	}
}

// group inserts thousands separators into an integer's digits.
func group(s string) string {
	if strings.ContainsAny(s, ".e") || len(s) <= 4 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
