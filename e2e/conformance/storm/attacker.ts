// The hostile side of the storm (tests/storm.test.ts), run as its own
// process so that its CPU use never delays the good client's event loop:
//
//   node --import tsx attacker.ts <base-url> <seconds> [websockets=12]
//
// Each WebSocket client joins "/" and then sends, in turn, garbage packets,
// an event with 5,000-deep nested arrays, a 2 MB frame and bad acks, as
// fast as its socket drains, reconnecting whenever the server closes it.
// Alongside, a few loops send bad long-polling requests. Everything stops
// after <seconds>; the process prints one JSON line of counts and exits.

import { WebSocket } from "ws";

const [base, secondsArg, socketsArg] = process.argv.slice(2);
if (!base || !secondsArg) {
  console.error("usage: attacker.ts <base-url> <seconds> [websockets]");
  process.exit(2);
}
const deadline = Date.now() + Number(secondsArg) * 1000;
const sockets = Number(socketsArg ?? 12);
const wsURL =
  base.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
const pollURL = base + "/socket.io/?EIO=4&transport=polling";

const counts = { connections: 0, frames: 0, bytes: 0, polls: 0 };

const DEPTH = 5000;
const deep = `42["message",${"[".repeat(DEPTH)}${"]".repeat(DEPTH)}]`;
const big = `42["message","${"a".repeat(2 * 1024 * 1024)}"]`;
const garbage: (string | Buffer)[] = [
  "4garbage",
  "42[",
  "42{}",
  '42["message"',
  "4" + "\u0000\u0001\uffff",
  "9",
  '40/nowhere,{"a":1}',
  "41/nowhere,",
  Buffer.from([0xde, 0xad, 0xbe, 0xef]),
  '452-["message",{"_placeholder":true,"num":7}]',
];
const badAcks = ["43999999[]", "431[", "43[]", "43-1[]", '43abc["x"]'];

/** The rotation of a hostile socket: most of it closes the connection. */
function payloads(n: number): (string | Buffer)[] {
  switch (n % 4) {
    case 0:
      return [garbage[n % garbage.length]!];
    case 1:
      return [deep, deep, deep];
    case 2:
      return [big];
    default:
      return badAcks;
  }
}

function send(ws: WebSocket, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    ws.send(data, () => resolve()); // an error shows as the close
  });
}

async function hostileSocket(i: number): Promise<void> {
  let n = i;
  while (Date.now() < deadline) {
    const ws = new WebSocket(wsURL, { maxPayload: 4 * 1024 * 1024 });
    const closed = new Promise<void>((resolve) => {
      ws.on("close", () => resolve());
      ws.on("error", () => resolve()); // refused or reset: try again
    });
    ws.on("message", (data) => {
      if (data.toString() === "2") ws.send("3"); // stay connected between attacks
    });
    const opened = await Promise.race([
      new Promise<boolean>((resolve) => ws.once("open", () => resolve(true))),
      closed.then(() => false),
    ]);
    if (!opened) continue;
    counts.connections++;
    await send(ws, "40");
    // Once the server's close frame is in, ws fails further sends at once
    // (on the next tick): loop on the state, or the loop never yields to
    // the I/O that delivers the close.
    while (ws.readyState === WebSocket.OPEN && Date.now() < deadline) {
      for (const p of payloads(n++)) {
        if (ws.readyState !== WebSocket.OPEN) break;
        counts.frames++;
        counts.bytes += p.length;
        await send(ws, p);
      }
    }
    ws.terminate();
    await closed;
  }
}

async function request(url: string, init?: RequestInit): Promise<string> {
  try {
    const res = await fetch(url, {
      ...init,
      signal: AbortSignal.timeout(2000),
    });
    counts.polls++;
    return await res.text();
  } catch {
    return ""; // refused, reset or timed out: the point is the load
  }
}

async function badPolling(i: number): Promise<void> {
  let n = i;
  while (Date.now() < deadline) {
    switch (n++ % 6) {
      case 0:
        await request(pollURL + "&sid=notasession");
        break;
      case 1:
        await request(pollURL.replace("EIO=4", "EIO=9"));
        break;
      case 2:
        await request(pollURL + "&sid=notasession", {
          method: "POST",
          body: "4garbage",
        });
        break;
      case 3: {
        // A real session, then garbage on it.
        const open = await request(pollURL);
        const sid = /"sid":"([^"]+)"/.exec(open)?.[1];
        if (sid)
          await request(`${pollURL}&sid=${sid}`, {
            method: "POST",
            body: "40\x1e42[\x1e" + deep,
          });
        break;
      }
      case 4:
        await request(pollURL, { method: "PUT", body: "x" });
        break;
      default:
        await request(pollURL, { method: "POST", body: big });
    }
  }
}

await Promise.all([
  ...Array.from({ length: sockets }, (_, i) => hostileSocket(i)),
  ...Array.from({ length: 3 }, (_, i) => badPolling(i)),
]);
console.log(JSON.stringify(counts));
