package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path"
	goruntime "runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

type loggerKey struct{}

// Logger returns the request-scoped logger stored by the interceptor (request id and RPC name
// attached), or fallback when ctx carries none.
func Logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// UnaryInterceptor tags each request with an id and a logger, logs it with its latency at
// debug level (errors at info), refuses requests with a NUL in any string (checkRequestStrings),
// turns panics into Internal errors and maps error kinds to
// gRPC codes — the one place where that mapping happens.
func UnaryInterceptor(log *slog.Logger, obs Observer) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		rpc := path.Base(info.FullMethod)
		l := log.With("rpc", rpc, "req", newRequestID())
		ctx = context.WithValue(ctx, loggerKey{}, l)
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				err = recovered(l, r)
				resp = nil
			}
			err = toStatus(err)
			finish(l, obs, rpc, start, err)
		}()
		if m, ok := req.(proto.Message); ok {
			if err := checkRequestStrings(m); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor is the streaming counterpart of UnaryInterceptor.
func StreamInterceptor(log *slog.Logger, obs Observer) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		rpc := path.Base(info.FullMethod)
		l := log.With("rpc", rpc, "req", newRequestID())
		ctx := context.WithValue(ss.Context(), loggerKey{}, l)
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				err = recovered(l, r)
			}
			err = toStatus(err)
			finish(l, obs, rpc, start, err)
		}()
		return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

func recovered(l *slog.Logger, r any) error {
	buf := make([]byte, 16<<10)
	buf = buf[:goruntime.Stack(buf, false)]
	l.Error("panic in handler", "panic", fmt.Sprint(r), "stack", string(buf))
	return status.Errorf(codes.Internal, "internal error: %v", r)
}

func finish(l *slog.Logger, obs Observer, rpc string, start time.Time, err error) {
	d := time.Since(start)
	code := status.Code(err)
	if obs != nil {
		obs.ObserveRPC(rpc, code, d)
	}
	if err != nil {
		l.Info("request failed", "code", code.String(), "err", status.Convert(err).Message(), "latency", d)
		return
	}
	l.Debug("request", "latency", d)
}

// Observer receives one observation per finished RPC (metrics). It may be nil.
type Observer interface {
	ObserveRPC(rpc string, code codes.Code, latency time.Duration)
}
