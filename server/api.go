package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/parley-rt/parley/events"
	"github.com/parley-rt/parley/namespaces/chat"
	"github.com/parley-rt/parley/rooms"
	"github.com/parley-rt/parley/store"
)

// PublishRequest is the body of POST /api/rooms/:room/messages.
type PublishRequest struct {
	Content     string         `json:"content"`
	Sender      events.UserRef `json:"sender"`
	ClientMsgID *string        `json:"clientMsgId,omitempty"`
}

// maxAPIBody bounds an API request body: 4000 characters of content are at
// most 16 KB of UTF-8, plus the envelope.
const maxAPIBody = 64 << 10

// apiRoutes registers the backend HTTP API. Every route needs the API key;
// with no key configured the API answers 404.
func (s *Server) apiRoutes(r *gin.Engine) {
	r.OPTIONS("/api/*path", s.cors) // preflights carry no credentials
	g := r.Group("/api", s.cors, s.requireAPIKey)
	g.POST("/rooms/:room/messages", s.publish)
	g.GET("/rooms/:room/messages", s.readHistory)
}

// cors applies the configured origins to the HTTP API and answers
// preflights.
func (s *Server) cors(c *gin.Context) {
	origin := c.GetHeader("Origin")
	allowed := origin != "" && s.allowOrigin(origin)
	h := c.Writer.Header()
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if c.Request.Method == http.MethodOptions {
		if allowed {
			h.Set("Access-Control-Allow-Methods", "GET,POST")
			h.Set("Access-Control-Allow-Headers", "Authorization,Content-Type,Last-Event-ID")
			h.Set("Access-Control-Max-Age", "600")
		}
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

func (s *Server) requireAPIKey(c *gin.Context) {
	if s.cfg.APIKey == "" {
		apiError(c, events.NewError(events.CodeNotFound, "the HTTP API is disabled: start parley with --api-key"))
		return
	}
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.APIKey)) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="parley"`)
		apiError(c, events.NewError(events.CodeUnauthorized, "missing or wrong API key"))
		return
	}
	c.Next()
}

// publish stores a message and broadcasts it to the room like a client's.
func (s *Server) publish(c *gin.Context) {
	room := c.Param("room")
	if err := rooms.Validate(room); err != nil {
		apiError(c, events.NewError(events.CodeBadRequest, err.Error()))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxAPIBody))
	if err != nil {
		apiError(c, events.NewError(events.CodeTooLarge, "body is larger than 64 KiB"))
		return
	}
	req, err := events.Decode[PublishRequest](body)
	if err != nil {
		apiError(c, events.NewError(events.CodeBadRequest, err.Error()))
		return
	}
	msgReq := events.ChatMessageRequest{Room: room, Content: req.Content, ClientMsgID: req.ClientMsgID}
	if err := msgReq.Validate(); err != nil {
		apiError(c, err)
		return
	}
	if err := validSender(req.Sender); err != nil {
		apiError(c, err)
		return
	}
	msg := events.ChatMessage{Room: room, Sender: req.Sender, Content: msgReq.TrimmedContent()}
	if req.ClientMsgID != nil {
		msg.ClientMsgID = *req.ClientMsgID
	}
	stored, created, err := s.hist.Append(c.Request.Context(), msg)
	if err != nil {
		s.storeError(c, "publish", err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		if err := events.Emit(s.chat.AsNamespace().To(chat.RoomKey(room)), events.NewChatMessage, stored); err != nil {
			s.cfg.Logger.Error("publish: broadcast", "room", room, "err", err)
		}
		s.feeds.message(stored)
	}
	c.JSON(status, stored)
}

func validSender(u events.UserRef) error {
	for _, f := range []struct{ name, v string }{{"sender.id", u.ID}, {"sender.name", u.Name}} {
		if n := utf8.RuneCountInString(strings.TrimSpace(f.v)); n == 0 || n > chat.MaxIdentityChars {
			return events.Errorf(events.CodeBadRequest, "%s must be 1 to %d characters", f.name, chat.MaxIdentityChars)
		}
	}
	return nil
}

// readHistory answers one page of a room's history.
func (s *Server) readHistory(c *gin.Context) {
	room := c.Param("room")
	if err := rooms.Validate(room); err != nil {
		apiError(c, events.NewError(events.CodeBadRequest, err.Error()))
		return
	}
	limit := events.DefaultHistoryLimit
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > events.MaxHistoryLimit {
			apiError(c, events.Errorf(events.CodeBadRequest, "limit must be 1 to %d", events.MaxHistoryLimit))
			return
		}
		limit = n
	}
	msgs, more, err := s.hist.Page(c.Request.Context(), room, c.Query("before"), c.Query("after"), limit)
	if err != nil {
		s.storeError(c, "history", err)
		return
	}
	c.JSON(http.StatusOK, events.FetchHistoryResult{Messages: msgs, HasMore: more})
}

func (s *Server) storeError(c *gin.Context, op string, err error) {
	switch {
	case errors.Is(err, chat.ErrNotFound):
		apiError(c, events.NewError(events.CodeNotFound, "no message with that id in this room"))
	case errors.Is(err, store.ErrBadQuery):
		apiError(c, events.NewError(events.CodeBadRequest, "bad history query"))
	case errors.Is(err, context.Canceled):
		c.Abort() // the caller left
	default:
		s.cfg.Logger.Error("api: store", "op", op, "err", err)
		apiError(c, events.NewError(events.CodeUnavailable, "the message store is unavailable; retry later"))
	}
}

// apiError answers {error: {code, message}} with the code's HTTP status.
func apiError(c *gin.Context, err error) {
	var e *events.Error
	if !errors.As(err, &e) {
		e = events.NewError(events.CodeInternal, "internal error")
	}
	c.AbortWithStatusJSON(httpStatus(e.Code), gin.H{"error": e})
}

func httpStatus(code events.Code) int {
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
