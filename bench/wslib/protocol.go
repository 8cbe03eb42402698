package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// chatNsp is the only application namespace of the bench contract.
const chatNsp = "/chat"

// openMessage is the Engine.IO open packet.
func openMessage(sid string) *message {
	return &message{text: fmt.Appendf(nil,
		`0{"sid":%q,"upgrades":[],"pingInterval":%d,"pingTimeout":%d,"maxPayload":%d}`,
		sid, pingInterval.Milliseconds(), pingTimeout.Milliseconds(), maxPayload)}
}

// onPacket handles one Engine.IO text packet on the reader goroutine. p is
// only valid during the call.
func (s *session) onPacket(p []byte) error {
	if len(p) == 0 {
		return errParse
	}
	switch p[0] {
	case '1': // close
		return errClientClose
	case '3': // pong
		select {
		case s.pong <- struct{}{}:
		default:
		}
	case '4': // message: a Socket.IO packet
		return s.onSocketPacket(p[1:])
	case '2', '6': // ping, noop: clients send neither over websocket in v4
	default:
		return errParse
	}
	return nil
}

// onSocketPacket handles one Socket.IO v5 packet:
// type [namespace ","] [ack id] [JSON data].
func (s *session) onSocketPacket(p []byte) error {
	if len(p) == 0 {
		return errParse
	}
	typ, rest := p[0], p[1:]
	nsp := []byte("/")
	if len(rest) > 0 && rest[0] == '/' {
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			nsp, rest = rest, nil
		} else {
			nsp, rest = rest[:i], rest[i+1:]
		}
	}
	id := int64(-1)
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j > 0 {
		n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
		if err != nil {
			return errParse
		}
		id, rest = n, rest[j:]
	}
	chat := string(nsp) == chatNsp
	switch typ {
	case '0': // CONNECT
		return s.onConnect(nsp, chat, rest)
	case '1': // DISCONNECT
		if chat && s.connected {
			s.connected = false
			s.srv.hub.leave(s)
		}
	case '2': // EVENT
		if chat && s.connected {
			return s.onEvent(id, rest)
		}
	case '3': // ACK: the server never asks for one
	case '5', '6': // binary event, binary ack: not part of the bench contract
		return fmt.Errorf("binary packets are not supported: %w", errParse)
	default:
		return errParse
	}
	return nil
}

// onConnect answers a namespace CONNECT; on /chat the auth {room} joins
// that room.
func (s *session) onConnect(nsp []byte, chat bool, auth []byte) error {
	switch {
	case chat:
		var a struct {
			Room string `json:"room"`
		}
		if len(auth) > 0 {
			if err := json.Unmarshal(auth, &a); err != nil {
				return fmt.Errorf("connect auth: %w", errParse)
			}
		}
		if a.Room != "" {
			s.srv.hub.join(s, a.Room)
		}
		s.connected = true
		s.queue(&message{text: fmt.Appendf(nil, `40%s,{"sid":%q}`, chatNsp, newID())})
	case string(nsp) == "/":
		s.queue(&message{text: fmt.Appendf(nil, `40{"sid":%q}`, newID())})
	default:
		s.queue(&message{text: fmt.Appendf(nil, `44%s,{"message":"Invalid namespace"}`, nsp)})
	}
	return nil
}

// onEvent handles an EVENT on /chat: "message" is re-broadcast to the room
// except the sender, encoded once; "echo" with an ack id is acked with its
// arguments.
func (s *session) onEvent(id int64, data []byte) error {
	var args []json.RawMessage
	if err := json.Unmarshal(data, &args); err != nil || len(args) == 0 {
		return fmt.Errorf("event: %w", errParse)
	}
	var name string
	if err := json.Unmarshal(args[0], &name); err != nil {
		return fmt.Errorf("event name: %w", errParse)
	}
	switch name {
	case "message":
		if s.room == "" {
			return nil
		}
		// The incoming array is valid JSON and its arguments are to be
		// sent unchanged: the broadcast packet reuses it.
		text := make([]byte, 0, 2+len(chatNsp)+1+len(data))
		text = append(append(append(text, "42"...), chatNsp...), ',')
		text = append(text, data...)
		s.srv.hub.broadcast(s.room, s, s.srv.lib.prepare(text))
	case "echo":
		if id < 0 {
			return nil
		}
		text := fmt.Appendf(make([]byte, 0, 16+len(data)), "43%s,%d[", chatNsp, id)
		for i, a := range args[1:] {
			if i > 0 {
				text = append(text, ',')
			}
			text = append(text, a...)
		}
		s.queue(&message{text: append(text, ']')})
	}
	return nil
}
