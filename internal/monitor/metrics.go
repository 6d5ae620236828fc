package monitor

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	recordsEvaluated = promauto.NewCounter(prometheus.CounterOpts{
		Name: "spine_monitor_records_evaluated_total",
		Help: "Audit records evaluated by the monitoring rules.",
	})
	recordsDropped = promauto.NewCounter(prometheus.CounterOpts{
		Name: "spine_monitor_records_dropped_total",
		Help: "Audit records not evaluated because the monitor's queue was full.",
	})
	queueLength = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "spine_monitor_queue_length",
		Help: "Audit records waiting for evaluation.",
	})
	lagSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "spine_monitor_lag_seconds",
		Help:    "Time between an access (Record.Time) and its evaluation.",
		Buckets: []float64{.005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
	})
	alertsOpened = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "spine_monitor_alerts_total",
		Help: "Alerts opened, by rule.",
	}, []string{"rule"})
	findingsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "spine_monitor_findings_total",
		Help: "Rule findings (each opens an alert or is added to an open one), by rule.",
	}, []string{"rule"})
	storeErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "spine_monitor_store_errors_total",
		Help: "Alert writes that failed.",
	})
	lookupErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "spine_monitor_lookup_errors_total",
		Help: "Failed patient, user or restriction look-ups (the rule then does not fire).",
	})
	deliveries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "spine_monitor_webhook_attempts_total",
		Help: "Webhook delivery attempts, by webhook and result (delivered, retry, failed).",
	}, []string{"webhook", "result"})
)
