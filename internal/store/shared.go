package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

func (s *sqlStore) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	now := time.Now().UnixMilli()
	var fresh bool
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if rand.IntN(100) == 0 { // keep the table to live claims
			if _, err := tx.ExecContext(ctx, s.rb("DELETE FROM claims WHERE until < ?"), now); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.rb("INSERT INTO claims (key, until) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET until = excluded.until WHERE claims.until < ?"),
			key, until.UnixMilli(), now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim: %w", err)
	}
	return fresh, nil
}

func (s *sqlStore) TakeToken(ctx context.Context, key string, rate float64, burst, n int) (bool, time.Duration, error) {
	if rate <= 0 || burst < 1 || n < 1 || n > burst {
		return false, 0, fmt.Errorf("bucket %s: rate and burst must be positive", key)
	}
	now := time.Now().UnixMilli()
	avail := s.d.least + "(?, buckets.tokens + (? - buckets.ts) / 1000.0 * ?)"
	var ok bool
	var wait time.Duration
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if s.d.numbered { // rate-limit state needs no fsync
			if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.rb("INSERT INTO buckets (key, tokens, ts) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET tokens = "+avail+" - ?, ts = ? WHERE "+avail+" >= ?"),
			key, float64(burst-n), now, float64(burst), now, rate, float64(n), now, float64(burst), now, rate, float64(n))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if ok = n == 1; ok {
			return nil
		}
		var tokens float64
		var ts int64
		if err := tx.QueryRowContext(ctx, s.rb("SELECT tokens, ts FROM buckets WHERE key = ?"), key).Scan(&tokens, &ts); err != nil {
			return err
		}
		have := min(float64(burst), tokens+float64(now-ts)/1000*rate)
		wait = time.Duration((float64(n) - have) / rate * float64(time.Second))
		return nil
	})
	if err != nil {
		return false, 0, fmt.Errorf("bucket %s: %w", key, err)
	}
	return ok, max(wait, time.Millisecond), nil
}

func (s *sqlStore) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.rb("SELECT value FROM meta WHERE key = ?"), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("setting %s: %w", key, err)
	}
	return v, nil
}

func (s *sqlStore) SetSetting(ctx context.Context, key, value string) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.rb("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"), key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("setting %s: %w", key, err)
	}
	return nil
}
