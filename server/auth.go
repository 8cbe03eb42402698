package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces"
	"github.com/parley-rt/parley/namespaces/chat"
	"github.com/parley-rt/parley/socketio"
)

// Authentication and authorization.
//
// Every namespace connection carries a JWT in the handshake auth
// ({token}); a server-level middleware verifies it before the namespace's
// own middleware runs and keeps the identity on the socket. A refused
// connection gets connect_error {message: "unauthorized", data: {code:
// "unauthorized", reason}}; the reason names the failed check, never the
// token or the key. Without a configured key the server runs in dev mode:
// it signs its own tokens with a per-process secret (GET /api/dev/token),
// and a handshake without a token may still claim {userId, name}.
//
// Rooms named private:* or matching Config.PrivateRooms need a matching
// entry in the token's rooms claim (a name, or a pattern where * matches any
// run of characters); every other room is open to any authenticated user.
// The same rule guards joinRoom, presence room subscriptions and the SSE
// feeds.

// identityKey is the Conn.Get key of a socket's *identity.
const identityKey = "server.identity"

// identity is an authenticated user.
type identity struct {
	user events.UserRef
	// rooms is the token's rooms claim.
	rooms []string
	// exp is the token's expiry; zero for a dev handshake identity and for
	// an anonymous dev SSE reader.
	exp time.Time
	// anonymous marks a dev-mode SSE reader without a token.
	anonymous bool
}

// tokenClaims are the claims Parley reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	Name  string   `json:"name,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

// authError is a refused token; reason is safe to show the client.
type authError struct{ reason string }

func (e *authError) Error() string { return "server: unauthorized: " + e.reason }

func unauthorized(reason string) error { return &authError{reason: reason} }

// authenticator verifies tokens and applies the room rules.
type authenticator struct {
	dev     bool
	key     any // []byte, *rsa.PublicKey or *ecdsa.PublicKey
	secret  []byte
	methods []string
	parser  *jwt.Parser
	private []*regexp.Regexp
	now     func() time.Time
}

// devTokenTTL is the default lifetime of a dev token; maxDevTokenTTL bounds
// the ttl a caller may ask for.
const (
	devTokenTTL    = 12 * time.Hour
	maxDevTokenTTL = 7 * 24 * time.Hour
	minSecretBytes = 32
)

func newAuthenticator(cfg *Config) (*authenticator, error) {
	a := &authenticator{now: time.Now}
	switch {
	case cfg.JWTSecret != "" && len(cfg.JWTPublicKey) > 0:
		return nil, errors.New("server: set JWTSecret or JWTPublicKey, not both")
	case cfg.JWTSecret != "":
		if len(cfg.JWTSecret) < minSecretBytes {
			return nil, fmt.Errorf("server: JWTSecret must be at least %d bytes", minSecretBytes)
		}
		a.secret, a.key, a.methods = []byte(cfg.JWTSecret), []byte(cfg.JWTSecret), []string{"HS256"}
	case len(cfg.JWTPublicKey) > 0:
		if k, err := jwt.ParseRSAPublicKeyFromPEM(cfg.JWTPublicKey); err == nil {
			a.key, a.methods = k, []string{"RS256"}
			break
		}
		k, err := jwt.ParseECPublicKeyFromPEM(cfg.JWTPublicKey)
		if err != nil {
			return nil, errors.New("server: JWTPublicKey is not a PEM RSA or EC public key")
		}
		if k.Curve != elliptic.P256() {
			return nil, errors.New("server: JWTPublicKey: EC keys must be P-256 (ES256)")
		}
		a.key, a.methods = (*ecdsa.PublicKey)(k), []string{"ES256"}
	case cfg.Production:
		return nil, errors.New("server: production mode needs JWTSecret or JWTPublicKey (--jwt-secret, --jwt-public-key)")
	default:
		a.dev = true
		a.secret = make([]byte, minSecretBytes)
		_, _ = rand.Read(a.secret) // crypto/rand.Read never fails
		a.key, a.methods = a.secret, []string{"HS256"}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(a.methods), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return a.now() })}
	if cfg.JWTAudience != "" {
		opts = append(opts, jwt.WithAudience(cfg.JWTAudience))
	}
	if cfg.JWTIssuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.JWTIssuer))
	}
	a.parser = jwt.NewParser(opts...)
	for _, p := range append([]string{"private:*"}, cfg.PrivateRooms...) {
		a.private = append(a.private, globRegexp(p))
	}
	return a, nil
}

// globRegexp compiles a room pattern: * matches any run of characters,
// everything else itself.
func globRegexp(p string) *regexp.Regexp {
	parts := strings.Split(p, "*")
	for i, s := range parts {
		parts[i] = regexp.QuoteMeta(s)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// verify checks a token and returns its identity, or an *authError.
func (a *authenticator) verify(token string) (*identity, error) {
	if token == "" {
		return nil, unauthorized("missing token")
	}
	if len(token) > events.MaxTokenBytes {
		return nil, unauthorized("malformed token")
	}
	var claims tokenClaims
	tok, err := a.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.key, nil })
	if err != nil {
		return nil, unauthorized(a.reason(tok, &claims, err))
	}
	sub := claims.Subject
	switch n := utf8.RuneCountInString(sub); {
	case n == 0:
		return nil, unauthorized("missing sub claim")
	case n > chat.MaxIdentityChars:
		return nil, unauthorized(fmt.Sprintf("sub is longer than %d characters", chat.MaxIdentityChars))
	}
	name := strings.TrimSpace(claims.Name)
	if name == "" {
		name = sub
	}
	if utf8.RuneCountInString(name) > chat.MaxIdentityChars {
		return nil, unauthorized(fmt.Sprintf("name is longer than %d characters", chat.MaxIdentityChars))
	}
	return &identity{user: events.UserRef{ID: sub, Name: name}, rooms: claims.Rooms, exp: claims.ExpiresAt.Time}, nil
}

// reason names the check a token failed. claims are filled as far as the
// token could be decoded.
func (a *authenticator) reason(tok *jwt.Token, claims *tokenClaims, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case tok != nil && tok.Method != nil && !slices.Contains(a.methods, tok.Method.Alg()):
		return fmt.Sprintf("signing algorithm %q is not accepted", tok.Method.Alg())
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims.ExpiresAt == nil:
		return "missing exp claim"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(claims.Audience) == 0:
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims.Issuer == "":
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

// sign issues a dev token (HS256 with the per-process secret).
func (a *authenticator) sign(u events.UserRef, rooms []string, ttl time.Duration) (string, time.Time, error) {
	now := a.now()
	exp := now.Add(ttl).Truncate(time.Second)
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: u.ID, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp)},
		Name:             u.Name,
		Rooms:            rooms,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.secret)
	return s, exp, err
}

// isPrivate reports whether room needs a rooms claim.
func (a *authenticator) isPrivate(room string) bool {
	return slices.ContainsFunc(a.private, func(re *regexp.Regexp) bool { return re.MatchString(room) })
}

// canJoin applies the room rules: forbidden for a private room the
// identity has no claim to.
func (a *authenticator) canJoin(id *identity, room string) error {
	if !a.isPrivate(room) {
		return nil
	}
	for _, p := range id.rooms {
		if p == room || (strings.Contains(p, "*") && globRegexp(p).MatchString(room)) {
			return nil
		}
	}
	return events.Errorf(events.CodeForbidden, "room %q is private: the token has no claim to it", room)
}

// connectRefusal is the connect_error of a refused token.
func connectRefusal(err error) error {
	var ae *authError
	if !errors.As(err, &ae) {
		return err
	}
	return &socketio.ConnectError{Message: string(events.CodeUnauthorized), Data: struct {
		Code   events.Code `json:"code"`
		Reason string      `json:"reason"`
	}{events.CodeUnauthorized, ae.reason}}
}

// authMiddleware verifies the handshake token of a namespace connection
// and keeps the identity on the socket. In dev mode a handshake without a
// token passes: the namespace then takes {userId, name} (see identify).
func (s *Server) authMiddleware(sock *socketio.Socket) error {
	var auth struct {
		Token *string `json:"token"`
	}
	_ = json.Unmarshal(sock.Auth(), &auth) // not an object: no token
	if auth.Token == nil && s.auth.dev {
		return nil
	}
	tok := ""
	if auth.Token != nil {
		tok = *auth.Token
	}
	id, err := s.auth.verify(tok)
	if err != nil {
		s.cfg.Logger.Debug("connection refused", "nsp", sock.Namespace().Name(), "socket", sock.ID(), "err", err)
		return connectRefusal(err)
	}
	sock.Set(identityKey, id)
	return nil
}

// identify is chat's and presence's Deps.Authenticate: the identity the
// middleware verified or, in dev mode without a token, the handshake's
// {userId, name}. It also enforces the per-user connection cap.
func (s *Server) identify(c namespaces.Conn) (events.UserRef, error) {
	id := identityOf(c)
	if id == nil {
		if !s.auth.dev {
			return events.UserRef{}, unauthorized("missing token") // unreachable: the middleware refused
		}
		u, err := chat.DevAuth(c)
		if err != nil {
			return events.UserRef{}, err
		}
		id = &identity{user: u}
		c.Set(identityKey, id)
	}
	if n := s.tracker.Connections(id.user.ID); n >= s.cfg.MaxConnectionsPerUser {
		return events.UserRef{}, events.Errorf(events.CodeRateLimited, "a user may have at most %d connections", s.cfg.MaxConnectionsPerUser)
	}
	return id.user, nil
}

func identityOf(c namespaces.Conn) *identity {
	v, _ := c.Get(identityKey)
	id, _ := v.(*identity)
	return id
}

// authorizeRoom is chat's and presence's Deps.Authorize.
func (s *Server) authorizeRoom(c namespaces.Conn, room string) error {
	id := identityOf(c)
	if id == nil {
		return events.NewError(events.CodeUnauthorized, "no identity")
	}
	return s.auth.canJoin(id, room)
}

// httpIdentity authenticates an SSE request: a bearer token in
// Authorization or ?token=. In dev mode a request without one reads as an
// anonymous user. It answers the refusal itself and returns nil.
func (s *Server) httpIdentity(c *gin.Context) *identity {
	tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok {
		tok = c.Query("token")
	}
	if tok == "" && s.auth.dev {
		return &identity{user: events.UserRef{ID: "anonymous", Name: "anonymous"}, anonymous: true}
	}
	id, err := s.auth.verify(tok)
	if err != nil {
		var ae *authError
		errors.As(err, &ae)
		c.Header("WWW-Authenticate", `Bearer realm="parley"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": gin.H{"code": events.CodeUnauthorized, "reason": ae.reason}})
		return nil
	}
	return id
}

// DevToken is the body of GET /api/dev/token.
type DevToken struct {
	Token  string `json:"token"`
	UserID string `json:"userId"`
	Name   string `json:"name"`
	// Exp is the token's expiry in Unix seconds.
	Exp int64 `json:"exp"`
}

var slugRun = regexp.MustCompile(`[^a-z0-9]+`)

// devToken signs a token in dev mode: ?name= (required), ?userId= (default:
// the name, lower-cased, runs of other characters as "-"), ?rooms= (a comma
// list for the rooms claim) and ?ttl= (a Go duration, default 12h).
func (s *Server) devToken(c *gin.Context) {
	name := strings.TrimSpace(c.Query("name"))
	if n := utf8.RuneCountInString(name); n == 0 || n > chat.MaxIdentityChars {
		apiError(c, events.Errorf(events.CodeBadRequest, "name must be 1 to %d characters", chat.MaxIdentityChars))
		return
	}
	id := c.Query("userId")
	if id == "" {
		id = strings.Trim(slugRun.ReplaceAllString(strings.ToLower(name), "-"), "-")
		if id == "" {
			id = "user"
		}
	}
	if n := utf8.RuneCountInString(id); n > chat.MaxIdentityChars {
		apiError(c, events.Errorf(events.CodeBadRequest, "userId must be 1 to %d characters", chat.MaxIdentityChars))
		return
	}
	ttl := devTokenTTL
	if v := c.Query("ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > maxDevTokenTTL {
			apiError(c, events.Errorf(events.CodeBadRequest, "ttl must be a duration from 1s to %v", maxDevTokenTTL))
			return
		}
		ttl = d
	}
	u := events.UserRef{ID: id, Name: name}
	tok, exp, err := s.auth.sign(u, splitList(c.Query("rooms")), ttl)
	if err != nil {
		s.cfg.Logger.Error("dev token", "err", err)
		apiError(c, events.NewError(events.CodeInternal, "internal error"))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, DevToken{Token: tok, UserID: u.ID, Name: u.Name, Exp: exp.Unix()})
}

// warnDevMode logs the loud warning of a server without a key.
func warnDevMode(log *slog.Logger) {
	log.Warn("DEV MODE: no --jwt-secret or --jwt-public-key; tokens are signed with a per-process secret " +
		"served to anyone at GET /api/dev/token, and handshakes may claim any {userId, name}. " +
		"Never expose this server; start with --production to refuse to run open.")
}

// authRoutes serves GET /api/dev/token, in dev mode only.
func (s *Server) authRoutes(r *gin.Engine) {
	if s.auth.dev {
		r.GET("/api/dev/token", s.cors, s.devToken)
	}
}
