//go:build !linux

package store

import "os"

// fdatasync flushes a file to disk (a full fsync where fdatasync is not available).
func fdatasync(f *os.File) error {
	return f.Sync()
}
