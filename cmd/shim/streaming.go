package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/crishim/crishim/cri"
)

// startStreaming starts the exec/attach/port-forward HTTP server of the [streaming] section
// (TLS when a certificate and key are configured). The returned function stops it and closes
// its open sessions.
func startStreaming(srv *cri.Server, cfg StreamingConfig, log *slog.Logger) (func(), error) {
	var tlsCfg *tls.Config
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("streaming: load TLS certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ss, err := srv.StartStreaming(cfg.Address, tlsCfg)
	if err != nil {
		return nil, err
	}
	log.Info("serving streaming", "address", ss.Addr().String(), "tls", tlsCfg != nil)
	go func() {
		if err := <-ss.Err(); err != nil {
			log.Error("streaming server stopped", "err", err)
		}
	}()
	return func() { _ = ss.Stop() }, nil
}
