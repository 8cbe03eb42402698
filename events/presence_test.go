package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestPresenceFixtures applies TestFixtures' checks to testdata/presence.
func TestPresenceFixtures(t *testing.T) {
	t.Parallel()
	want := fixtures(Presence)
	if len(want) == 0 {
		t.Fatal("no /presence events registered")
	}
	for _, fx := range want {
		t.Run(fx.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(fixtureDir(Presence), fx.file))
			if err != nil {
				t.Fatalf("every event needs a fixture: %v", err)
			}
			ptr := reflect.New(fx.typ)
			if err := decodeInto(data, ptr.Interface()); err != nil {
				t.Fatalf("decode into %v: %v", fx.typ, err)
			}
			if v, ok := ptr.Interface().(Validator); ok && fx.validate {
				if err := v.Validate(); err != nil {
					t.Fatalf("Validate: %v", err)
				}
			}
			again, err := json.Marshal(ptr.Interface())
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, data, again) {
				t.Fatalf("re-encoding changed the payload:\n fixture: %s\n encoded: %s", compact(t, data), again)
			}
		})
	}
	t.Run("no stray files", func(t *testing.T) {
		t.Parallel()
		entries, err := os.ReadDir(fixtureDir(Presence))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if filepath.Ext(e.Name()) == ".json" && !slices.ContainsFunc(want, func(fx fixture) bool { return fx.file == e.Name() }) {
				t.Errorf("%s matches no registered event", e.Name())
			}
		}
	})
}

func TestRegisteredPresence(t *testing.T) {
	t.Parallel()
	var got []string
	for _, info := range Registered() {
		if info.Namespace == Presence {
			ack := "-"
			if info.Ack != nil {
				ack = info.Ack.Name()
			}
			got = append(got, fmt.Sprintf("%s %s(%s) %s", info.Direction, info.Name, info.Payload.Name(), ack))
		}
	}
	want := []string{
		"clientToServer refreshToken(RefreshTokenRequest) RefreshTokenResult",
		"clientToServer setStatus(SetStatusRequest) PresenceState",
		"clientToServer subscribe(WatchRequest) PresenceSnapshot",
		"clientToServer unsubscribe(WatchRequest) UnsubscribeResult",
		"serverToClient status(PresenceState) -",
		"serverToClient userConnected(string) -",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("registered /presence events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPresenceValidate(t *testing.T) {
	t.Parallel()
	many := make([]string, MaxWatchItems+1)
	for i := range many {
		many[i] = fmt.Sprint("u", i)
	}
	tests := []struct {
		name    string
		payload string
		decode  func([]byte) (Validator, error)
		code    Code // "" when valid
	}{
		{"status online", `{"status":"online"}`, decodeAs[SetStatusRequest], ""},
		{"status busy", `{"status":"busy"}`, decodeAs[SetStatusRequest], ""},
		{"status offline", `{"status":"offline"}`, decodeAs[SetStatusRequest], CodeBadRequest},
		{"status unknown", `{"status":"gone"}`, decodeAs[SetStatusRequest], CodeBadRequest},
		{"status empty", `{"status":""}`, decodeAs[SetStatusRequest], CodeBadRequest},
		{"watch empty", `{}`, decodeAs[WatchRequest], ""},
		{"watch both", `{"rooms":["a"],"userIds":["u"]}`, decodeAs[WatchRequest], ""},
		{"watch empty id", `{"userIds":[""]}`, decodeAs[WatchRequest], CodeBadRequest},
		{"watch long id", `{"userIds":["` + strings.Repeat("é", MaxUserIDChars+1) + `"]}`, decodeAs[WatchRequest], CodeBadRequest},
		{"watch max id", `{"userIds":["` + strings.Repeat("é", MaxUserIDChars) + `"]}`, decodeAs[WatchRequest], ""},
		{"watch too many ids", `{"userIds":` + mustJSON(t, many) + `}`, decodeAs[WatchRequest], CodeTooLarge},
		{"watch too many rooms", `{"rooms":` + mustJSON(t, many) + `}`, decodeAs[WatchRequest], CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := tt.decode([]byte(tt.payload))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			err = v.Validate()
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("Validate = %v, want %s", err, tt.code)
			}
		})
	}
	// Null and unknown members are refused by the decoder already.
	for _, bad := range []string{`{"status":null}`, `{"status":"away","x":1}`, `"away"`} {
		if _, err := Decode[SetStatusRequest]([]byte(bad)); err == nil {
			t.Errorf("Decode(%s) succeeded", bad)
		}
	}
}

func TestEnumValues(t *testing.T) {
	t.Parallel()
	// UserStatus is PresenceStatus without offline.
	want := slices.DeleteFunc(PresenceStatus("").Values(), func(s string) bool { return s == string(StatusOffline) })
	if got := UserStatus("").Values(); !slices.Equal(got, want) {
		t.Fatalf("UserStatus values %v, want %v", got, want)
	}
}

func decodeAs[T any](b []byte) (Validator, error) {
	v, err := Decode[T](b)
	if err != nil {
		return nil, err
	}
	val, ok := any(v).(Validator)
	if !ok {
		return nil, fmt.Errorf("%T has no Validate", v)
	}
	return val, nil
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
