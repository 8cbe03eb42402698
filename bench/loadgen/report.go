package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// result is the subset of a RESULT line the report reads.
type result struct {
	Scenario               string     `json:"scenario"`
	Transport              string     `json:"transport"`
	Server                 string     `json:"server"`
	Error                  string     `json:"error"`
	MaxSustainedDeliveries float64    `json:"maxSustainedDeliveries"`
	MaxSustainedRate       float64    `json:"maxSustainedRate"`
	MaxSustainedP99        float64    `json:"maxSustainedP99Ms"`
	Saturated              bool       `json:"saturated"`
	Receivers              int        `json:"receivers"`
	Steps                  []stepJSON `json:"steps"`
	BytesPerConn           float64    `json:"bytesPerConn"`
	Conns                  int        `json:"conns"`
	AcksPerSec             float64    `json:"acksPerSec"`
	AckedPerSec            float64    `json:"ackedPerSec"`
	Latency                latency    `json:"latency"`
	AckLatency             latency    `json:"ackLatency"`
	CPUPressure            []float64  `json:"cpuPressure"`
}

type stepJSON struct {
	Rate       float64 `json:"rateMsgs"`
	Achieved   float64 `json:"achievedDeliveries"`
	Loss       int64   `json:"loss"`
	Latency    latency `json:"latency"`
	AckLatency latency `json:"ackLatency"`
	Pass       bool    `json:"pass"`
}

// metric is one row of the table.
type metric struct {
	name       string
	scenario   string
	get        func(r *result) (float64, bool)
	format     string
	higherWins bool
}

func bestStep(r *result) *stepJSON {
	var b *stepJSON
	for i := range r.Steps {
		if r.Steps[i].Pass && (b == nil || r.Steps[i].Rate > b.Rate) {
			b = &r.Steps[i]
		}
	}
	return b
}

var metrics = []metric{
	{"fanout max sustained deliveries/s", "fanout", func(r *result) (float64, bool) { return r.MaxSustainedDeliveries, true }, "%.0f", true},
	{"fanout p99 at max sustained (ms)", "fanout", func(r *result) (float64, bool) { return r.MaxSustainedP99, r.MaxSustainedDeliveries > 0 }, "%.1f", false},
	{"latency p50 (ms)", "latency", firstStep(func(s *stepJSON) float64 { return s.Latency.P50 }), "%.1f", false},
	{"latency p99 (ms)", "latency", firstStep(func(s *stepJSON) float64 { return s.Latency.P99 }), "%.1f", false},
	{"latency max (ms)", "latency", firstStep(func(s *stepJSON) float64 { return s.Latency.Max }), "%.1f", false},
	{"latency loss", "latency", firstStep(func(s *stepJSON) float64 { return float64(s.Loss) }), "%.0f", false},
	{"idle bytes per connection", "idle", func(r *result) (float64, bool) { return r.BytesPerConn, r.BytesPerConn != 0 }, "%.0f", false},
	{"echo acks/s", "echo", func(r *result) (float64, bool) { return r.AcksPerSec, r.AcksPerSec > 0 }, "%.0f", true},
	{"echo rtt p99 (ms)", "echo", func(r *result) (float64, bool) { return r.Latency.P99, r.Latency.N > 0 }, "%.2f", false},
	{"chat max sustained deliveries/s", "chat", func(r *result) (float64, bool) { return r.MaxSustainedDeliveries, true }, "%.0f", true},
	{"chat p99 at max sustained (ms)", "chat", func(r *result) (float64, bool) { return r.MaxSustainedP99, r.MaxSustainedDeliveries > 0 }, "%.1f", false},
	{"chat ack p99 at max sustained (ms)", "chat", func(r *result) (float64, bool) {
		if s := bestStep(r); s != nil {
			return s.AckLatency.P99, true
		}
		return 0, false
	}, "%.1f", false},
	{"persist acked msgs/s", "persist", func(r *result) (float64, bool) { return r.AckedPerSec, r.AckedPerSec > 0 }, "%.0f", true},
	{"persist ack p99 (ms)", "persist", func(r *result) (float64, bool) { return r.AckLatency.P99, r.AckLatency.N > 0 }, "%.2f", false},
}

func firstStep(f func(s *stepJSON) float64) func(r *result) (float64, bool) {
	return func(r *result) (float64, bool) {
		if len(r.Steps) == 0 {
			return 0, false
		}
		return f(&r.Steps[0]), true
	}
}

// loadResults reads every *.json file in dir, keyed by file name without
// extension.
func loadResults(dir string) (map[string]*result, error) {
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

// printReport prints the side-by-side table of DIR/<server>-<scenario>.json,
// the Parley/Node ratios and the calibration spread (DIR/calib-*-{1,2}.json).
func printReport(w io.Writer, dir string) error {
	rs, err := loadResults(dir)
	if err != nil {
		return err
	}
	servers := []string{"parley", "node", "zishang"}
	var present []string
	for _, s := range servers {
		for k := range rs {
			if strings.HasPrefix(k, s+"-") {
				present = append(present, s)
				break
			}
		}
	}
	if len(present) == 0 {
		return fmt.Errorf("no results in %s", dir)
	}
	fmt.Fprintf(w, "\nResults in %s (transport: %s)\n\n", dir, transports(rs))
	fmt.Fprintf(w, "%-38s", "metric")
	for _, s := range present {
		fmt.Fprintf(w, "%14s", s)
	}
	fmt.Fprintf(w, "%16s\n", "parley/node")
	fmt.Fprintln(w, strings.Repeat("-", 38+14*len(present)+16))
	for _, m := range metrics {
		vals := map[string]float64{}
		row := fmt.Sprintf("%-38s", m.name)
		any := false
		for _, s := range present {
			r := rs[s+"-"+m.scenario]
			cell := "-"
			if r != nil {
				v, ok := m.get(r)
				switch {
				case ok:
					vals[s] = v
					cell = fmt.Sprintf(m.format, v)
					if m.higherWins && (m.scenario == "fanout" || m.scenario == "chat") && !r.Saturated && v > 0 {
						cell = "≥" + cell
					}
					if r.Error != "" {
						cell += "!"
					}
				case r.Error != "":
					cell = "error"
				}
				any = any || ok || r.Error != ""
			}
			row += fmt.Sprintf("%14s", cell)
		}
		if !any {
			continue
		}
		ratio := ""
		p, okP := vals["parley"]
		n, okN := vals["node"]
		if okP && okN && n != 0 {
			ratio = fmt.Sprintf("%.2fx", p/n)
		}
		fmt.Fprintf(w, "%s%16s\n", row, ratio)
	}
	fmt.Fprintln(w, "\n(≥ = every step passed, the server was not saturated: raise the rates; ! = the run reported an error, see below.)")
	for _, s := range present {
		for _, sc := range []string{"fanout", "latency", "idle", "echo", "chat", "persist"} {
			if r := rs[s+"-"+sc]; r != nil && r.Error != "" {
				fmt.Fprintf(w, "note: %s %s: %s\n", s, sc, r.Error)
			}
		}
	}
	var noisy []string
	for k, r := range rs {
		if len(r.CPUPressure) == 2 && max(r.CPUPressure[0], r.CPUPressure[1]) > 20 {
			noisy = append(noisy, fmt.Sprintf("%s (%.0f%%)", k, max(r.CPUPressure[0], r.CPUPressure[1])))
		}
	}
	if len(noisy) > 0 {
		slices.Sort(noisy)
		fmt.Fprintf(w, "warning: other processes competed for the CPUs (PSI cpu some avg10 > 20%%) during: %s\n", strings.Join(noisy, ", "))
	}
	printCalibration(w, rs)
	return nil
}

// transports lists the transports the results ran on; results written before
// -transport existed ran on websocket.
func transports(rs map[string]*result) string {
	var ts []string
	for _, r := range rs {
		t := r.Transport
		if t == "" {
			t = transportWebsocket
		}
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	return strings.Join(ts, ", ")
}

// printCalibration reports the spread between two identical runs: the noise
// floor below which differences between servers mean nothing.
func printCalibration(w io.Writer, rs map[string]*result) {
	type cal struct {
		name string
		key  string
		get  func(r *result) (float64, bool)
	}
	cals := []cal{
		{"echo acks/s", "echo", func(r *result) (float64, bool) { return r.AcksPerSec, r.AcksPerSec > 0 }},
		{"echo rtt p99 (ms)", "echo", func(r *result) (float64, bool) { return r.Latency.P99, r.Latency.N > 0 }},
		{"latency p50 (ms)", "latency", firstStep(func(s *stepJSON) float64 { return s.Latency.P50 })},
		{"latency p99 (ms)", "latency", firstStep(func(s *stepJSON) float64 { return s.Latency.P99 })},
	}
	var lines []string
	for _, c := range cals {
		a, b := rs["calib-"+c.key+"-1"], rs["calib-"+c.key+"-2"]
		if a == nil || b == nil {
			continue
		}
		va, okA := c.get(a)
		vb, okB := c.get(b)
		if !okA || !okB {
			continue
		}
		spread := 0.0
		if mean := (va + vb) / 2; mean != 0 {
			spread = 100 * math.Abs(va-vb) / mean
		}
		lines = append(lines, fmt.Sprintf("  %-22s run1 %10.2f  run2 %10.2f  spread %5.1f%%", c.name, va, vb, spread))
	}
	if len(lines) == 0 {
		return
	}
	slices.Sort(lines)
	fmt.Fprintln(w, "\nNoise (the Node server measured twice, same settings):")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "Differences between servers smaller than this spread are noise.")
}
