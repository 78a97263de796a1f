// Package lock wraps flock(2) on a lock file. Locks belong to an open file description, so
// two locks taken in the same process through different calls exclude each other exactly as
// locks of different processes do.
package lock

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Unlock releases a lock.
type Unlock func()

func take(path string, how int) (Unlock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// Exclusive blocks until it holds an exclusive lock on path.
func Exclusive(path string) (Unlock, error) { return take(path, unix.LOCK_EX) }

// Shared blocks until it holds a shared lock on path.
func Shared(path string) (Unlock, error) { return take(path, unix.LOCK_SH) }

// TryExclusive takes an exclusive lock if nobody holds any lock on path; ok is false when
// the lock is busy.
func TryExclusive(path string) (u Unlock, ok bool, err error) {
	u, err = take(path, unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return u, true, nil
	}
	if errorsIsWouldBlock(err) {
		return nil, false, nil
	}
	return nil, false, err
}

func errorsIsWouldBlock(err error) bool {
	for e := err; e != nil; {
		if e == unix.EWOULDBLOCK {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
