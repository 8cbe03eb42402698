package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// hist is a lock-free log-linear latency histogram in microseconds with
// under 1 % relative error (128 sub-buckets per power of two).
type hist struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const (
	histSub     = 128
	histBuckets = histSub + 40*histSub
)

func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 8 // v>>shift is in [128, 256)
	return histSub + shift*histSub + int(v>>uint(shift)) - histSub
}

func histValue(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	shift := (i - histSub) / histSub
	m := uint64((i-histSub)%histSub + histSub)
	return m<<uint(shift) + (uint64(1)<<uint(shift))/2
}

// record adds one sample.
func (h *hist) record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	i := histIndex(uint64(us))
	if i >= histBuckets {
		i = histBuckets - 1
	}
	h.counts[i].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// quantile returns the q-quantile (0 < q ≤ 1) in milliseconds.
func (h *hist) quantile(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	want := uint64(q*float64(n) + 0.5)
	if want < 1 {
		want = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= want {
			v := histValue(i)
			if m := uint64(h.max.Load()); v > m {
				v = m
			}
			return float64(v) / 1000
		}
	}
	return h.maxMs()
}

func (h *hist) maxMs() float64 { return float64(h.max.Load()) / 1000 }

// latency is the JSON form of a histogram summary, in milliseconds.
type latency struct {
	N   uint64  `json:"n"`
	P50 float64 `json:"p50Ms"`
	P90 float64 `json:"p90Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

func (h *hist) summary() latency {
	return latency{N: h.n.Load(), P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99), Max: h.maxMs()}
}
