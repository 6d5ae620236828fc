//go:build !linux

package store

// raiseWriterPriority does nothing where threads have no priority of
// their own that the spine can set (see priority_linux.go).
func raiseWriterPriority(string) (tid int) { return 0 }
