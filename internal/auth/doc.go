// Package auth verifies user tokens and signs development tokens. It is
// transport-independent: the Socket.IO middleware (package namespaces), the
// SSE streams and every later channel call Verify and get the same
// Identity and the same refusal reasons.
//
// Tokens are JWTs verified with github.com/golang-jwt/jwt/v5: HS256 with a
// shared secret, or RS256/ES256 with a public key; exp and sub are
// required, name is the display name, aud and iss are checked when
// configured, and rooms lists the private rooms (names or "*" patterns) the
// user may join (see rooms.Policy). Without a key the Verifier is in dev
// mode: it signs tokens with a per-process secret (Sign) and transports may
// accept a handshake's {userId, name} (DevUser).
//
// Concurrency: a Verifier is immutable after New and safe for concurrent
// use. The package starts no goroutine.
package auth
