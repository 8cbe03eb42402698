package events

// The limits of the contract, declared once. go generate ./events writes
// each constant of this file, with its doc comment, into
// client-js/src/generated/events.ts as an exported const named in
// SCREAMING_SNAKE_CASE (MaxContentChars becomes MAX_CONTENT_CHARS), so the
// client and the e2e suites import them instead of repeating the numbers.
//
// Lengths in characters count Unicode code points: a JavaScript client
// counts with [...s].length, not s.length. The generator reads this file
// alone, so its constants may refer only to each other.

// The contract's version.
const (
	// ContractVersion is the version of the events, payloads and limits
	// declared here; it grows when a change would break an existing
	// client. The /ws endpoint reports it in its info frame.
	ContractVersion = 1
)

// Message limits of /chat.
const (
	// MaxContentChars is the longest message content, in characters, after
	// trimming white space.
	MaxContentChars = 4000
	// MaxClientMsgIDChars is the longest clientMsgId, in characters.
	MaxClientMsgIDChars = 128
)

// History paging of /chat.
const (
	// MaxHistoryLimit is the largest fetchHistory page, in messages.
	MaxHistoryLimit = 200
	// DefaultHistoryLimit is the fetchHistory page size when limit is
	// absent, and the number of messages of history sent with joinRoom.
	DefaultHistoryLimit = 50
)

// Room names.
const (
	// MaxRoomNameChars is the longest room name, in characters (every
	// allowed character is one byte).
	MaxRoomNameChars = 64
	// RoomNamePattern is a regular expression (RE2 and JavaScript syntax
	// alike) that a valid room name matches in full: 1 to MaxRoomNameChars
	// characters of A-Z a-z 0-9 _ . : -.
	RoomNamePattern = `^[A-Za-z0-9_.:-]{1,64}$`
	// RoomNameDotsPattern matches the names that RoomNamePattern allows but
	// the contract refuses: only dots ("." and ".." are path segments that a
	// normalising proxy rewrites in /sse/rooms/:room and /api/rooms/:room).
	// A valid room name matches RoomNamePattern and not this.
	RoomNameDotsPattern = `^\.+$`
)

// Identities and presence.
const (
	// MaxIdentityChars is the longest user id and the longest display name,
	// in characters, that a token, the dev login or the HTTP API may carry.
	MaxIdentityChars = 64
	// MaxUserIDChars is the longest user id a /presence client may name, in
	// characters: any user id the server accepts.
	MaxUserIDChars = MaxIdentityChars
	// MaxWatchItems is the most user ids, and separately the most rooms, one
	// subscribe or unsubscribe may name.
	MaxWatchItems = 100
)

// Tokens.
const (
	// MaxTokenBytes is the longest token a client may send, in bytes.
	MaxTokenBytes = 8 << 10
)
