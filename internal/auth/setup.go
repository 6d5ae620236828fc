package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Config assembles the auth layer of a server.
type Config struct {
	DataDir string // keys live in DataDir/keys
	Dev     bool   // spine serve --dev: trust the dev IdP, accept dev tokens
	// TokenURL is the public URL of the token endpoint (the audience of
	// client assertions), e.g. https://spine.example/oauth2/token.
	TokenURL   string
	Apps       Registry    // nil: an empty in-memory registry
	Replay     ReplayCache // nil: in-memory
	Limiter    Limiter     // nil: in-memory
	Authorizer Authorizer  // policy.Default(); nil: authentication only
	Issuers    []TrustedIssuer
	Keys       KeyOptions
}

// Service is the assembled auth layer.
type Service struct {
	Keys     *KeyRing
	Verifier *Verifier
	Tokens   *TokenService
	Rules    RouteRules
	DevIdP   *DevIdP // dev mode only
}

// New opens the keys (creating them on first use) and builds the token
// endpoint, the verifier and the default route rules.
func New(cfg Config) (*Service, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("auth: no data folder")
	}
	keys, err := OpenKeyRing(KeysDir(cfg.DataDir), cfg.Keys)
	if err != nil {
		return nil, err
	}
	s := &Service{Keys: keys, Verifier: NewVerifier(keys, VerifierOptions{Dev: cfg.Dev})}
	issuers := cfg.Issuers
	if cfg.Dev {
		if s.DevIdP, err = OpenDevIdP(cfg.DataDir); err != nil {
			return nil, err
		}
		issuers = append(issuers, s.DevIdP.TrustedIssuer(IssuerCIS2), s.DevIdP.TrustedIssuer(IssuerNHSLogin))
	}
	if cfg.Apps == nil {
		cfg.Apps, _ = NewMemRegistry()
	}
	if cfg.Replay == nil {
		cfg.Replay = NewMemReplayCache(0)
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewMemLimiter(0)
	}
	s.Tokens, err = NewTokenService(TokenConfig{Keys: keys, Apps: cfg.Apps, Replay: cfg.Replay, TokenURL: cfg.TokenURL, Issuers: issuers})
	if err != nil {
		return nil, err
	}
	s.Rules = DefaultRules(cfg.Authorizer, cfg.Limiter)
	return s, nil
}

// Register mounts POST /oauth2/token and GET /.well-known/jwks.json on mux.
func (s *Service) Register(mux *http.ServeMux) { s.Tokens.Register(mux) }

// Wrap puts the auth middleware in front of next.
func (s *Service) Wrap(next http.Handler) http.Handler { return Middleware(s.Verifier, s.Rules, next) }

// Run rotates keys until ctx ends (call it in a goroutine).
func (s *Service) Run(ctx context.Context) {
	slog.Info("auth: signing keys", "kids", s.Keys.KeyIDs())
	s.Keys.Run(ctx, time.Minute)
}
