package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/parley-rt/parley/socketio"
)

// errInvalidCredentials is the connect_error the UI recognises: it shows
// its login form again.
var errInvalidCredentials = &socketio.ConnectError{Message: "invalid credentials"}

// errBusy refuses a login while maxPasswordChecks others are being
// checked: each bcrypt comparison costs tens of milliseconds of CPU, which
// a flood of logins must not turn into a denial of service.
var errBusy = &socketio.ConnectError{Message: "too many login attempts, retry"}

// maxPasswordChecks bounds the bcrypt comparisons running at once.
const maxPasswordChecks = 2

// adminKey is the socket data key under which the middleware leaves a new
// session id for the connection handler; data listings leave it out, as
// Node's instrument leaves out its _admin key.
const adminKey = "_admin"

// credentials are what the UI sends as handshake auth: a username and
// password at login, a session id when it reconnects.
type credentials struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	SessionID string `json:"sessionId"`
}

// sessions are the session ids handed to logged-in UIs, each valid for
// ttl from its creation; at most max are kept (the oldest goes first).
type sessions struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	ids   map[string]time.Time // id -> expiry
	order []string             // ids in creation order
}

func newSessions(ttl time.Duration, max int) *sessions {
	return &sessions{ttl: ttl, max: max, ids: make(map[string]time.Time)}
}

// create returns a new session id.
func (ss *sessions) create(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	id := hex.EncodeToString(b[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.prune(now)
	for len(ss.order) >= ss.max {
		delete(ss.ids, ss.order[0])
		ss.order = ss.order[1:]
	}
	ss.ids[id] = now.Add(ss.ttl)
	ss.order = append(ss.order, id)
	return id
}

// valid reports whether id is a live session.
func (ss *sessions) valid(id string, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.ids[id]
	return ok && now.Before(exp)
}

// prune drops expired sessions; they expire in creation order.
func (ss *sessions) prune(now time.Time) {
	i := 0
	for i < len(ss.order) && !now.Before(ss.ids[ss.order[i]]) {
		delete(ss.ids, ss.order[i])
		i++
	}
	ss.order = ss.order[i:]
}

// authenticate is the /admin namespace's middleware (see login); the new
// session id of a password login waits in the socket's data for the
// connection handler, which hands it to the UI.
func (a *Admin) authenticate(s *socketio.Socket) error {
	session, err := a.login(s.Auth(), a.now())
	if err != nil {
		a.cfg.Logger.Warn("admin: login refused", "remote", s.Handshake().RemoteAddr, "err", err)
		return err
	}
	if session != "" {
		s.Set(adminKey, session)
	}
	return nil
}

// login checks a UI's handshake auth: a live session id, or the configured
// username with a password matching the bcrypt hash, for which it returns
// a new session id. With no credentials configured every UI is let in.
func (a *Admin) login(auth json.RawMessage, now time.Time) (session string, err error) {
	if a.cfg.User == "" {
		return "", nil
	}
	var c credentials
	if err := json.Unmarshal(auth, &c); err != nil {
		return "", errInvalidCredentials
	}
	if c.SessionID != "" && a.sessions.valid(c.SessionID, now) {
		return "", nil
	}
	select {
	case a.checking <- struct{}{}:
	default:
		return "", errBusy
	}
	ok := a.checkPassword(c.Username, c.Password)
	<-a.checking
	if !ok {
		return "", errInvalidCredentials
	}
	return a.sessions.create(now), nil
}

// checkPassword compares in constant time with respect to the username
// and always pays for one bcrypt comparison, so that a wrong username
// takes as long as a wrong password.
func (a *Admin) checkPassword(user, password string) bool {
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.cfg.User)) == 1
	passOK := bcrypt.CompareHashAndPassword([]byte(a.cfg.PasswordHash), []byte(password)) == nil
	return userOK && passOK
}
