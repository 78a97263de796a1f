// Package errdefs holds the error kinds that domain packages wrap and that the cri package
// maps to gRPC codes in one place.
package errdefs

import "errors"

// Error kinds. Wrap them with fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound) so the
// message names the object and the cause; test with errors.Is.
var (
	// ErrNotFound means the named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means an object with that name or id already exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument means the request itself is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrFailedPrecondition means the object is not in a state that allows the operation.
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrUnavailable means a dependency is temporarily unavailable; the caller may retry.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthenticated means a registry or peer refused our credentials.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied means the operation is not allowed.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrResourceExhausted means a resource (disk, quota) ran out.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrDeadlineExceeded means the operation timed out.
	ErrDeadlineExceeded = errors.New("deadline exceeded")
	// ErrNotImplemented means the feature is not available in this build or on this host.
	ErrNotImplemented = errors.New("not implemented")
)
