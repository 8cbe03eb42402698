package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-rt/parley/events"
)

// Identity is an authenticated user.
type Identity struct {
	User events.UserRef
	// Rooms is the token's rooms claim: the private rooms (names or
	// patterns) the user may join.
	Rooms []string
	// Exp is the token's expiry; zero for a dev handshake identity and for
	// an anonymous dev reader.
	Exp time.Time
	// Anonymous marks a dev-mode reader without a token (SSE).
	Anonymous bool
}

// Error is a refused token. Reason names the failed check and is safe to
// show the client: it never holds the token or the key.
type Error struct{ Reason string }

func (e *Error) Error() string { return "auth: unauthorized: " + e.Reason }

func refuse(reason string) error { return &Error{Reason: reason} }

// Reason returns the reason of a refusal, or "" when err is not an *Error.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Config configures a Verifier. Secret and PublicKey are exclusive; with
// neither, the Verifier is in dev mode unless Production is set. Errors
// name them as server.Config does (JWTSecret, JWTPublicKey) with their
// flags, since that is where an operator sets them.
type Config struct {
	// Secret is the HS256 key, at least MinSecretBytes bytes.
	Secret string
	// PublicKey is a PEM RSA (RS256) or EC P-256 (ES256) public key.
	PublicKey []byte
	// Audience and Issuer, when set, must match the aud and iss claims.
	Audience string
	Issuer   string
	// Production refuses a Config without a key.
	Production bool
	// DevSecret is the dev mode's HS256 key for the dev tokens it signs
	// (at least MinSecretBytes bytes); nil: a random one per process. A
	// cluster's nodes share one (the server keeps it in Redis), so that a
	// dev token one node issued is good on every node.
	DevSecret []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnRefused, when set, is called with the reason of each refused token
	// (metrics). It must return at once.
	OnRefused func(reason string)
}

// Dev-token bounds and the least HS256 secret length.
const (
	DevTokenTTL    = 12 * time.Hour
	MaxDevTokenTTL = 7 * 24 * time.Hour
	MinSecretBytes = 32
)

// Verifier verifies tokens (and, in dev mode, signs them).
type Verifier struct {
	dev     bool
	key     any // []byte, *rsa.PublicKey or *ecdsa.PublicKey
	secret  []byte
	methods []string
	parser  *jwt.Parser
	now     func() time.Time
	refused func(reason string)
}

// New validates cfg and returns its Verifier.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{now: cfg.Now, refused: cfg.OnRefused}
	if v.now == nil {
		v.now = time.Now
	}
	if v.refused == nil {
		v.refused = func(string) {}
	}
	switch {
	case cfg.Secret != "" && len(cfg.PublicKey) > 0:
		return nil, errors.New("auth: set JWTSecret or JWTPublicKey, not both (--jwt-secret, --jwt-public-key)")
	case cfg.Secret != "":
		if len(cfg.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("auth: JWTSecret must be at least %d bytes", MinSecretBytes)
		}
		v.secret, v.key, v.methods = []byte(cfg.Secret), []byte(cfg.Secret), []string{"HS256"}
	case len(cfg.PublicKey) > 0:
		if k, err := jwt.ParseRSAPublicKeyFromPEM(cfg.PublicKey); err == nil {
			v.key, v.methods = k, []string{"RS256"}
			break
		}
		k, err := jwt.ParseECPublicKeyFromPEM(cfg.PublicKey)
		if err != nil {
			return nil, errors.New("auth: JWTPublicKey is not a PEM RSA or EC public key")
		}
		if k.Curve != elliptic.P256() {
			return nil, errors.New("auth: JWTPublicKey: EC keys must be P-256 (ES256)")
		}
		v.key, v.methods = (*ecdsa.PublicKey)(k), []string{"ES256"}
	case cfg.Production:
		return nil, errors.New("auth: production mode needs JWTSecret or JWTPublicKey (--jwt-secret, --jwt-public-key)")
	default:
		v.dev = true
		switch {
		case len(cfg.DevSecret) >= MinSecretBytes:
			v.secret = cfg.DevSecret
		case len(cfg.DevSecret) > 0:
			return nil, fmt.Errorf("auth: DevSecret must be at least %d bytes", MinSecretBytes)
		default:
			v.secret = make([]byte, MinSecretBytes)
			_, _ = rand.Read(v.secret) // crypto/rand.Read never fails
		}
		v.key, v.methods = v.secret, []string{"HS256"}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.methods), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return v.now() })}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Dev reports whether the Verifier runs in dev mode (no configured key).
func (v *Verifier) Dev() bool { return v.dev }

// claims are the claims Parley reads.
type claims struct {
	jwt.RegisteredClaims
	Name  string   `json:"name,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

// Verify checks a token and returns its identity, or an *Error.
func (v *Verifier) Verify(token string) (Identity, error) {
	id, err := v.verify(token)
	if err != nil {
		v.refused(Reason(err))
	}
	return id, err
}

func (v *Verifier) verify(token string) (Identity, error) {
	if token == "" {
		return Identity{}, refuse("missing token")
	}
	if len(token) > events.MaxTokenBytes {
		return Identity{}, refuse("malformed token")
	}
	var c claims
	tok, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		return Identity{}, refuse(v.reason(tok, &c, err))
	}
	sub := c.Subject
	switch n := utf8.RuneCountInString(sub); {
	case n == 0:
		return Identity{}, refuse("missing sub claim")
	case n > events.MaxIdentityChars:
		return Identity{}, refuse(fmt.Sprintf("sub is longer than %d characters", events.MaxIdentityChars))
	}
	name := strings.TrimSpace(c.Name)
	if name == "" {
		name = sub
	}
	if utf8.RuneCountInString(name) > events.MaxIdentityChars {
		return Identity{}, refuse(fmt.Sprintf("name is longer than %d characters", events.MaxIdentityChars))
	}
	return Identity{User: events.UserRef{ID: sub, Name: name}, Rooms: c.Rooms, Exp: c.ExpiresAt.Time}, nil
}

// reason names the check a token failed. c is filled as far as the token
// could be decoded.
func (v *Verifier) reason(tok *jwt.Token, c *claims, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case tok != nil && tok.Method != nil && !slices.Contains(v.methods, tok.Method.Alg()):
		return fmt.Sprintf("signing algorithm %q is not accepted", tok.Method.Alg())
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.ExpiresAt == nil:
		return "missing exp claim"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(c.Audience) == 0:
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.Issuer == "":
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidClaims), errors.Is(err, jwt.ErrInvalidType):
		return "invalid claims"
	}
	return "invalid token"
}

// ErrNotDev is returned by Sign outside dev mode.
var ErrNotDev = errors.New("auth: dev tokens are signed in dev mode only")

// Sign issues a dev token (HS256 with the per-process secret) for u with
// the rooms claim, valid for ttl.
func (v *Verifier) Sign(u events.UserRef, rooms []string, ttl time.Duration) (string, time.Time, error) {
	if !v.dev {
		return "", time.Time{}, ErrNotDev
	}
	now := v.now()
	exp := now.Add(ttl).Truncate(time.Second)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: u.ID, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp)},
		Name:             u.Name,
		Rooms:            rooms,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(v.secret)
	return s, exp, err
}

// DevUser reads the development identity of a handshake: auth must be an
// object with non-blank string fields userId and name, each at most
// events.MaxIdentityChars characters (other fields are ignored). It trusts
// the client entirely; only a dev-mode transport may call it.
func DevUser(auth json.RawMessage) (events.UserRef, error) {
	var a struct {
		UserID *string `json:"userId"`
		Name   *string `json:"name"`
	}
	if err := json.Unmarshal(auth, &a); err != nil {
		return events.UserRef{}, events.NewError(events.CodeUnauthorized, "auth must be an object with string fields userId and name")
	}
	for _, f := range []struct {
		name  string
		value *string
	}{{"userId", a.UserID}, {"name", a.Name}} {
		if f.value == nil || strings.TrimSpace(*f.value) == "" {
			return events.UserRef{}, events.Errorf(events.CodeUnauthorized, "auth.%s is required", f.name)
		}
		if utf8.RuneCountInString(*f.value) > events.MaxIdentityChars {
			return events.UserRef{}, events.Errorf(events.CodeUnauthorized, "auth.%s is longer than %d characters", f.name, events.MaxIdentityChars)
		}
	}
	return events.UserRef{ID: *a.UserID, Name: *a.Name}, nil
}

// WarnDevMode logs the loud warning of a server without a key.
func WarnDevMode(log *slog.Logger) {
	log.Warn("DEV MODE: no --jwt-secret or --jwt-public-key; tokens are signed with a per-process secret " +
		"served to anyone at GET /api/dev/token, and handshakes may claim any {userId, name}. " +
		"Never expose this server; start with --production to refuse to run open.")
}
