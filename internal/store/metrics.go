package store

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	opSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "spine_store_operation_seconds",
		Help:    "Duration of store operations.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"op"})
	commitBatch = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "spine_store_commit_batch_size",
		Help:    "Write transactions committed together in one group commit, by SQLite database file.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	}, []string{"file"})
	syncBatches = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "spine_store_sync_batches",
		Help:    "Committed write batches made durable by one fsync of the write-ahead log (SQLite).",
		Buckets: []float64{1, 2, 3, 4, 6, 8, 16},
	})
	writerBusy = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "spine_store_writer_busy_seconds_total",
		Help: "Wall time the single writer of a SQLite database file spent running and committing write batches (its rate is the writer's utilisation; near 1 it is the bottleneck).",
	}, []string{"file"})
	walCheckpoints = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "spine_store_wal_checkpoints_total",
		Help: "SQLite write-ahead log checkpoints by mode: PASSIVE four times a second, RESTART when the log has grown past its limit (256 MiB).",
	}, []string{"mode"})
	fsyncSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "spine_store_fsync_seconds",
		Help:    "Duration of each fdatasync of a SQLite write-ahead log, by database file (every acknowledged write waits for one).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"file"})
	commitSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "spine_store_commit_seconds",
		Help:    "Time from the arrival of a write transaction's first job to its durability (fsync included); on SQLite one observation per transaction.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
)

func observe(op string, start time.Time) {
	opSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
