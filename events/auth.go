package events

// The token refresh events: a socket whose token is about to expire sends a
// newer token for the same user; without one it is disconnected when its
// token's exp passes. The event exists in every namespace a client
// authenticates on.
var (
	// ChatRefreshToken replaces the token of a /chat socket.
	ChatRefreshToken = ClientEvent[RefreshTokenRequest, RefreshTokenResult](Chat, "refreshToken")
	// PresenceRefreshToken replaces the token of a /presence socket.
	PresenceRefreshToken = ClientEvent[RefreshTokenRequest, RefreshTokenResult](Presence, "refreshToken")
)

// RefreshTokenRequest is the refreshToken payload.
type RefreshTokenRequest struct {
	// Token is a JWT for the socket's user (same sub) that expires later
	// than the current one.
	Token string `json:"token"`
}

// Validate checks that the token is 1 to MaxTokenBytes bytes.
func (r RefreshTokenRequest) Validate() error {
	if r.Token == "" || len(r.Token) > MaxTokenBytes {
		return Errorf(CodeBadRequest, "token must be 1 to %d bytes", MaxTokenBytes)
	}
	return nil
}

// RefreshTokenResult is the refreshToken ack data.
type RefreshTokenResult struct {
	// Exp is the new token's expiry, in Unix seconds (its exp claim).
	Exp int64 `json:"exp"`
}
