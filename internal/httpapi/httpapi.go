package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-rt/parley/core"
	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/internal/auth"
	"github.com/parley-rt/parley/internal/commalist"
)

// PublishRequest is the body of POST /api/rooms/:room/messages.
type PublishRequest struct {
	Content     string         `json:"content"`
	Sender      events.UserRef `json:"sender"`
	ClientMsgID *string        `json:"clientMsgId,omitempty"`
}

// DevToken is the body of GET /api/dev/token.
type DevToken struct {
	Token  string `json:"token"`
	UserID string `json:"userId"`
	Name   string `json:"name"`
	// Exp is the token's expiry in Unix seconds.
	Exp int64 `json:"exp"`
}

// MaxBody bounds an API request body: events.MaxContentChars characters
// of content are at most 16 KB of UTF-8, plus the envelope.
const MaxBody = 64 << 10

// Config configures an API.
type Config struct {
	// Chat is the application core. Required.
	Chat *core.Chat
	// Verifier signs dev tokens (in dev mode). Required for DevToken.
	Verifier *auth.Verifier
	// APIKey is the bearer key of the publish API; empty disables it (404).
	APIKey string
	// Logger receives store failures. nil discards.
	Logger *slog.Logger
}

// API serves the HTTP endpoints.
type API struct{ cfg Config }

// New returns the API of cfg.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: cfg}
}

// Authorized checks the API key of a request, answering the refusal itself
// when it fails.
func (a *API) Authorized(w http.ResponseWriter, r *http.Request) bool {
	if a.cfg.APIKey == "" {
		WriteError(w, events.NewError(events.CodeNotFound, "the HTTP API is disabled: start parley with --api-key"))
		return false
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(a.cfg.APIKey)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
		WriteError(w, events.NewError(events.CodeUnauthorized, "missing or wrong API key"))
		return false
	}
	return true
}

// Publish posts a message to room like a client's (201 with the stored
// message; 200 with the original for a resend of a known clientMsgId).
func (a *API) Publish(w http.ResponseWriter, r *http.Request, room string) {
	if err := core.CheckRoom(room); err != nil {
		WriteError(w, err)
		return
	}
	if !jsonBody(r) {
		WriteJSON(w, http.StatusUnsupportedMediaType, errorBody{events.NewError(events.CodeBadRequest, "Content-Type must be application/json")})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		WriteError(w, events.Errorf(events.CodeTooLarge, "body is larger than %d KiB", MaxBody>>10))
		return
	}
	req, err := events.Decode[PublishRequest](body)
	if err != nil {
		WriteError(w, events.NewError(events.CodeBadRequest, err.Error()))
		return
	}
	msgReq := events.ChatMessageRequest{Room: room, Content: req.Content, ClientMsgID: req.ClientMsgID}
	if err := msgReq.Validate(); err != nil {
		WriteError(w, err)
		return
	}
	if err := validSender(req.Sender); err != nil {
		WriteError(w, err)
		return
	}
	msg, created, err := a.cfg.Chat.Publish(r.Context(), req.Sender, msgReq)
	if err != nil {
		a.fail(w, "publish", err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	WriteJSON(w, status, msg)
}

// jsonBody reports whether the request's Content-Type is application/json
// (parameters such as charset allowed).
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func validSender(u events.UserRef) error {
	for _, f := range []struct{ name, v string }{{"sender.id", u.ID}, {"sender.name", u.Name}} {
		if n := utf8.RuneCountInString(strings.TrimSpace(f.v)); n == 0 || n > events.MaxIdentityChars {
			return events.Errorf(events.CodeBadRequest, "%s must be 1 to %d characters", f.name, events.MaxIdentityChars)
		}
	}
	return nil
}

// History answers one page of a room's history (?before=, ?after=,
// ?limit=).
func (a *API) History(w http.ResponseWriter, r *http.Request, room string) {
	if err := core.CheckRoom(room); err != nil {
		WriteError(w, err)
		return
	}
	limit := events.DefaultHistoryLimit
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > events.MaxHistoryLimit {
			WriteError(w, events.Errorf(events.CodeBadRequest, "limit must be 1 to %d", events.MaxHistoryLimit))
			return
		}
		limit = n
	}
	msgs, more, err := a.cfg.Chat.Page(r.Context(), room, q.Get("before"), q.Get("after"), limit)
	if err != nil {
		a.fail(w, "history", err)
		return
	}
	WriteJSON(w, http.StatusOK, events.FetchHistoryResult{Messages: msgs, HasMore: more})
}

// fail answers a core error: an *events.Error as written (logged when the
// store is unavailable), nothing when the caller left.
func (a *API) fail(w http.ResponseWriter, op string, err error) {
	if errors.Is(err, context.Canceled) {
		return // the caller left
	}
	var e *events.Error
	if errors.As(err, &e) && e.Code == events.CodeUnavailable {
		a.cfg.Logger.Error("api: store", "op", op, "err", err)
	}
	WriteError(w, err)
}

var slugRun = regexp.MustCompile(`[^a-z0-9]+`)

// DevToken signs a token in dev mode: ?name= (required), ?userId= (default:
// the name, lower-cased, runs of other characters as "-"), ?rooms= (a comma
// list for the rooms claim) and ?ttl= (a Go duration, default
// auth.DevTokenTTL).
func (a *API) DevToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := strings.TrimSpace(q.Get("name"))
	if n := utf8.RuneCountInString(name); n == 0 || n > events.MaxIdentityChars {
		WriteError(w, events.Errorf(events.CodeBadRequest, "name must be 1 to %d characters", events.MaxIdentityChars))
		return
	}
	id := q.Get("userId")
	if id == "" {
		id = strings.Trim(slugRun.ReplaceAllString(strings.ToLower(name), "-"), "-")
		if id == "" {
			id = "user"
		}
	}
	if n := utf8.RuneCountInString(id); n > events.MaxIdentityChars {
		WriteError(w, events.Errorf(events.CodeBadRequest, "userId must be 1 to %d characters", events.MaxIdentityChars))
		return
	}
	ttl := auth.DevTokenTTL
	if v := q.Get("ttl"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > auth.MaxDevTokenTTL {
			WriteError(w, events.Errorf(events.CodeBadRequest, "ttl must be a duration from 1s to %v", auth.MaxDevTokenTTL))
			return
		}
		ttl = d
	}
	u := events.UserRef{ID: id, Name: name}
	tok, exp, err := a.cfg.Verifier.Sign(u, commalist.Split(q.Get("rooms")), ttl)
	if err != nil {
		a.cfg.Logger.Error("dev token", "err", err)
		WriteError(w, events.NewError(events.CodeInternal, "internal error"))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, DevToken{Token: tok, UserID: u.ID, Name: u.Name, Exp: exp.Unix()})
}

// BearerIdentity authenticates a reader (SSE): a bearer token in
// Authorization or ?token=. In dev mode a request without one reads as an
// anonymous user. It answers the refusal itself (401 with {code, reason})
// and returns false.
func BearerIdentity(w http.ResponseWriter, r *http.Request, v *auth.Verifier) (auth.Identity, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" && v.Dev() {
		return auth.Identity{User: events.UserRef{ID: "anonymous", Name: "anonymous"}, Anonymous: true}, true
	}
	id, err := v.Verify(tok)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
		WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": events.CodeUnauthorized, "reason": auth.Reason(err)}})
		return auth.Identity{}, false
	}
	return id, true
}

// CORS applies the allowed origins to a request and answers a preflight
// (OPTIONS) itself; it reports whether the request was answered.
func CORS(w http.ResponseWriter, r *http.Request, allow func(string) bool) (answered bool) {
	origin := r.Header.Get("Origin")
	allowed := origin != "" && allow(origin)
	h := w.Header()
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method != http.MethodOptions {
		return false
	}
	if allowed {
		h.Set("Access-Control-Allow-Methods", "GET,POST")
		h.Set("Access-Control-Allow-Headers", "Authorization,Content-Type,Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

type errorBody struct {
	Error *events.Error `json:"error"`
}

// WriteError answers {"error": {code, message}} with the code's HTTP
// status; an error that is not an *events.Error answers internal.
func WriteError(w http.ResponseWriter, err error) {
	var e *events.Error
	if !errors.As(err, &e) {
		e = events.NewError(events.CodeInternal, "internal error")
	}
	WriteJSON(w, Status(e.Code), errorBody{e})
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client may be gone
}

// Status is the HTTP status of an error code.
func Status(code events.Code) int {
	switch code {
	case events.CodeBadRequest:
		return http.StatusBadRequest
	case events.CodeUnauthorized:
		return http.StatusUnauthorized
	case events.CodeForbidden:
		return http.StatusForbidden
	case events.CodeNotFound:
		return http.StatusNotFound
	case events.CodeRateLimited:
		return http.StatusTooManyRequests
	case events.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case events.CodeConflict:
		return http.StatusConflict
	case events.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
