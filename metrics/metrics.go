// Package metrics holds gatehouse's Prometheus metrics on a registry of its
// own (no global default registry), and serves them at /metrics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the counters and histograms the server updates.
type Metrics struct {
	reg *prometheus.Registry

	Requests        *prometheus.CounterVec   // by route, method, status
	RequestDuration *prometheus.HistogramVec // by route
	SignIns         *prometheus.CounterVec   // by result: ok, failed, throttled, disabled
	Revocations     *prometheus.CounterVec   // by kind: sid, jti, user
	RefreshReuse    prometheus.Counter
}

// Sources are the live values the gauges read at scrape time.
type Sources struct {
	HashRunning   func() float64
	HashWaiting   func() float64
	HashRejected  func() float64
	HashWaitTotal func() float64 // seconds
	RevocationLen func() float64
	FeedLag       func() float64 // seconds since the revocation list last synced
	// ActiveSessions counts live sessions in the store (at scrape time).
	ActiveSessions func() float64
}

// New registers every metric on a fresh registry.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		SignIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_signins_total", Help: "Password sign-ins by result.",
		}, []string{"result"}),
		Revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_revocations_total", Help: "Revocation-list entries published by this instance, by kind.",
		}, []string{"kind"}),
		RefreshReuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_refresh_reuse_detected_total", Help: "Spent refresh tokens presented again (sessions revoked as stolen).",
		}),
	}
	reg.MustRegister(m.Requests, m.RequestDuration, m.SignIns, m.Revocations, m.RefreshReuse,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		if f != nil {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
		}
	}
	gauge("gatehouse_password_hash_running", "Password hashes being computed now.", src.HashRunning)
	gauge("gatehouse_password_hash_queue_depth", "Sign-ins waiting for a password-hashing slot.", src.HashWaiting)
	gauge("gatehouse_password_hash_rejected", "Hash requests refused because the pool was full (cumulative).", src.HashRejected)
	gauge("gatehouse_password_hash_wait_seconds", "Total time spent waiting for a hashing slot (cumulative).", src.HashWaitTotal)
	gauge("gatehouse_revocation_list_entries", "Live entries in this instance's revocation list.", src.RevocationLen)
	gauge("gatehouse_sessions_active", "Live sessions in the store (-1 when the store cannot say).", src.ActiveSessions)
	gauge("gatehouse_revocation_feed_lag_seconds", "Seconds since the revocation list last synced with the store.", src.FeedLag)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest records one request.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched" // bounded label values: never the raw path
	}
	m.Requests.WithLabelValues(route, method, statusClass(status)).Inc()
	m.RequestDuration.WithLabelValues(route).Observe(d.Seconds())
}

// statusClass keeps the status label exact for the statuses gatehouse
// sends and folds anything else, so labels stay bounded.
func statusClass(s int) string {
	switch s {
	case 200, 201, 204, 302, 303, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503:
		return strconv.Itoa(s)
	}
	return strconv.Itoa(s/100) + "xx"
}
