-- 0001: messages, last_seen and the message id clock.

CREATE TABLE messages (
	id            uuid   NOT NULL PRIMARY KEY, -- UUIDv7 from message_clock, in commit order
	room          text   NOT NULL,
	sender_id     text   NOT NULL,
	sender_name   text   NOT NULL,
	content       text   NOT NULL,
	ts            bigint NOT NULL,             -- Unix ms, the database's clock
	client_msg_id text                         -- NULL when none was given
);

-- Idempotency key. Partial, so messages without a key never collide.
CREATE UNIQUE INDEX messages_sender_client_msg
	ON messages (sender_id, client_msg_id)
	WHERE client_msg_id IS NOT NULL;

-- History paging: every page is a range scan of one room by id.
CREATE INDEX messages_room_id ON messages (room, id);

CREATE TABLE last_seen (
	user_id text   NOT NULL PRIMARY KEY,
	name    text   NOT NULL,
	ts      bigint NOT NULL -- Unix ms
);

-- message_clock is the one row every transaction that inserts messages
-- updates first: its row lock, held to commit, serializes those
-- transactions, so ids taken from it increase in commit order (see the
-- package documentation). ms is the millisecond of the last id handed out,
-- seq the last counter value used within it.
CREATE TABLE message_clock (
	singleton boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (singleton),
	ms        bigint  NOT NULL,
	seq       bigint  NOT NULL
);
INSERT INTO message_clock (ms, seq) VALUES (0, -1);
-- Statistics from the start: unanalyzed, the planner guesses 1,810 rows.
ANALYZE message_clock;

-- parley_uuid7 builds the UUIDv7 of millisecond ms and counter seq
-- (0 <= seq < 2^42): the 48-bit ms, version 7, the counter's high 12 bits
-- as rand_a, variant 10, the counter's low 30 bits and 32 random bits as
-- rand_b. Ids of one ms sort by counter, and ms sorts first.
CREATE FUNCTION parley_uuid7(ms bigint, seq bigint) RETURNS uuid
	LANGUAGE sql VOLATILE PARALLEL SAFE
	RETURN (
		lpad(to_hex(ms), 12, '0')
		|| to_hex(28672 | (seq >> 30)::int)
		|| to_hex((-9223372036854775807 - 1) | ((seq & 1073741823) << 32) | floor(random() * 4294967296)::bigint)
	)::uuid;
