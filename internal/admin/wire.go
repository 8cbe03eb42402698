package admin

import (
	"encoding/json"
	"time"
)

// The Admin UI's server-to-client events (ServerEvents in the package's
// dist/typed-events.d.ts).
const (
	evSession            = "session"
	evConfig             = "config"
	evServerStats        = "server_stats"
	evAllSockets         = "all_sockets"
	evSocketConnected    = "socket_connected"
	evSocketUpdated      = "socket_updated"
	evSocketDisconnected = "socket_disconnected"
	evRoomJoined         = "room_joined"
	evRoomLeft           = "room_left"
)

// The UI's client-to-server events (ClientEvents).
const (
	evEmit       = "emit"        // (nsp, filter?, event, ...args)
	evJoin       = "join"        // (nsp, room, filter?)
	evLeave      = "leave"       // (nsp, room, filter?)
	evDisconnect = "_disconnect" // (nsp, close, filter?)
)

// Feature is one entry of config.supportedFeatures.
type Feature string

// The features Parley supports. ALL_EVENTS puts the UI in its development
// mode, where it lists sockets, rooms and clients; Parley does not send
// event_received and event_sent (every event's arguments), so the UI's
// event log shows connections, disconnections and room changes only.
const (
	FeatureEmit             Feature = "EMIT"
	FeatureJoin             Feature = "JOIN"
	FeatureLeave            Feature = "LEAVE"
	FeatureDisconnect       Feature = "DISCONNECT"
	FeatureMJoin            Feature = "MJOIN"
	FeatureMLeave           Feature = "MLEAVE"
	FeatureMDisconnect      Feature = "MDISCONNECT"
	FeatureAggregatedEvents Feature = "AGGREGATED_EVENTS"
	FeatureAllEvents        Feature = "ALL_EVENTS"
)

// configPayload is the config event.
type configPayload struct {
	SupportedFeatures []Feature `json:"supportedFeatures"`
}

// ServerStats is the server_stats event, one per node every interval.
type ServerStats struct {
	ServerID            string             `json:"serverId"`
	Hostname            string             `json:"hostname"`
	PID                 int                `json:"pid"`
	Uptime              float64            `json:"uptime"` // seconds since New, which runs at the server's start
	ClientsCount        int                `json:"clientsCount"`
	PollingClientsCount int                `json:"pollingClientsCount"`
	AggregatedEvents    []AggregatedEvent  `json:"aggregatedEvents"`
	Namespaces          []NamespaceDetails `json:"namespaces"`
}

// NamespaceDetails counts one namespace's sockets on this node.
type NamespaceDetails struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// AggregatedEvent counts events of one type (and subtype) within one
// second, Timestamp being that second's start in Unix milliseconds.
type AggregatedEvent struct {
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int    `json:"count"`
}

// Socket is a socket as the UI shows it (SerializedSocket).
type Socket struct {
	ID        string          `json:"id"`
	ClientID  string          `json:"clientId"`
	Transport string          `json:"transport"`
	Nsp       string          `json:"nsp"`
	Data      json.RawMessage `json:"data"`
	Handshake Handshake       `json:"handshake"`
	Rooms     []string        `json:"rooms"`
}

// socketUpdate is the socket_updated event: the fields that changed.
type socketUpdate struct {
	ID        string `json:"id"`
	Nsp       string `json:"nsp"`
	Transport string `json:"transport,omitempty"`
}

// Handshake is Node's socket.handshake object. Secrets are redacted (see
// redact).
type Handshake struct {
	Headers map[string]string `json:"headers"`
	Time    string            `json:"time"` // Date.prototype.toString's format
	Address string            `json:"address"`
	XDomain bool              `json:"xdomain"`
	Secure  bool              `json:"secure"`
	Issued  int64             `json:"issued"` // Unix milliseconds
	URL     string            `json:"url"`
	Query   map[string]any    `json:"query"`
	Auth    json.RawMessage   `json:"auth"`
}

// jsDate marshals a time as JSON.stringify marshals a JavaScript Date.
type jsDate time.Time

func (d jsDate) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(d).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}
