package events

import (
	"slices"
	"unicode/utf8"
)

// Presence is the presence namespace.
const Presence Namespace = "/presence"

// The /presence events. Room names are not checked by Validate:
// RoomNamePattern states the rule, and the presence handlers check it with
// rooms.Validate.
var (
	// SetStatus sets the user's chosen status; it applies to every socket of
	// the user and answers with the user's new state.
	SetStatus = ClientEvent[SetStatusRequest, PresenceState](Presence, "setStatus")
	// Subscribe starts watching users, and the users present in chat rooms,
	// and answers with their current state.
	Subscribe = ClientEvent[WatchRequest, PresenceSnapshot](Presence, "subscribe")
	// Unsubscribe stops watching users and rooms.
	Unsubscribe = ClientEvent[WatchRequest, UnsubscribeResult](Presence, "unsubscribe")

	// UserConnected tells a socket, once connected, its own user id.
	UserConnected = ServerEvent[string](Presence, "userConnected")
	// Status delivers a watched user's new state.
	Status = ServerEvent[PresenceState](Presence, "status")
)

// PresenceStatus is a user's presence as others see it.
type PresenceStatus string

// The presence statuses. A connected user is online unless it chose away or
// busy; a user without a connection (after the grace period) is offline.
const (
	StatusOnline  PresenceStatus = "online"
	StatusAway    PresenceStatus = "away"
	StatusBusy    PresenceStatus = "busy"
	StatusOffline PresenceStatus = "offline"
)

// Values implements Enum.
func (PresenceStatus) Values() []string {
	return []string{string(StatusOnline), string(StatusAway), string(StatusBusy), string(StatusOffline)}
}

// UserStatus is a status a user may choose: a PresenceStatus other than
// offline.
type UserStatus string

// The statuses a user may choose.
const (
	UserOnline UserStatus = "online"
	UserAway   UserStatus = "away"
	UserBusy   UserStatus = "busy"
)

// Values implements Enum.
func (UserStatus) Values() []string {
	return []string{string(UserOnline), string(UserAway), string(UserBusy)}
}

// PresenceState is one user's presence.
type PresenceState struct {
	UserID string `json:"userId"`
	// Name is the user's display name; empty when the server has not seen
	// the user since it started.
	Name     string         `json:"name"`
	IsOnline bool           `json:"isOnline"`
	Status   PresenceStatus `json:"status"`
	// LastSeen is in Unix milliseconds: when an offline user's last
	// connection ended (0 when never seen), and the time of the state for
	// an online user (it is being seen now).
	LastSeen int64 `json:"lastSeen"`
	// Connections counts the user's connected sockets, in every namespace
	// and tab.
	Connections int `json:"connections"`
}

// SetStatusRequest is the setStatus payload.
type SetStatusRequest struct {
	Status UserStatus `json:"status"`
}

// Validate checks that the status is online, away or busy.
func (r SetStatusRequest) Validate() error {
	if !slices.Contains(r.Status.Values(), string(r.Status)) {
		return NewError(CodeBadRequest, `status must be "online", "away" or "busy"`)
	}
	return nil
}

// WatchRequest is the subscribe and unsubscribe payload: users by id, and
// chat rooms whose present users are watched.
type WatchRequest struct {
	Rooms   []string `json:"rooms,omitempty"`
	UserIDs []string `json:"userIds,omitempty"`
}

// Validate checks the list sizes (at most MaxWatchItems each) and the user
// ids (1 to MaxUserIDChars characters).
func (r WatchRequest) Validate() error {
	if len(r.Rooms) > MaxWatchItems || len(r.UserIDs) > MaxWatchItems {
		return Errorf(CodeTooLarge, "at most %d rooms and %d user ids per request", MaxWatchItems, MaxWatchItems)
	}
	for _, id := range r.UserIDs {
		if n := utf8.RuneCountInString(id); n == 0 || n > MaxUserIDChars {
			return Errorf(CodeBadRequest, "user ids must be 1 to %d characters", MaxUserIDChars)
		}
	}
	return nil
}

// PresenceSnapshot is the subscribe ack data: the current state of every
// user the request named or found in its rooms, sorted by user id.
type PresenceSnapshot struct {
	Users []PresenceState `json:"users"`
}

// UnsubscribeResult is the unsubscribe ack data.
type UnsubscribeResult struct{}
