package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"tailscale.com/control/controlbase"
	"tailscale.com/control/controlhttp"
	"tailscale.com/control/controlhttp/controlhttpcommon"
	"tailscale.com/envknob"
	"tailscale.com/net/wsconn"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// upgradePath is the path of the ts2021 protocol switch. Clients request it
// at the root of the host, even when the login URL has a path.
const upgradePath = "/ts2021"

// protocolVersion is the Noise protocol version a v1.92.5 client sends.
const protocolVersion = uint16(tailcfg.CurrentCapabilityVersion)

// directHTTPClient does not use proxies from the environment, so the probe
// always talks to the server it was given.
var directHTTPClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// fetchServerKey requests GET <server>/key?v=<capability version> as
// controlclient does and returns the server's Noise public key.
func fetchServerKey(ctx context.Context, serverURL *url.URL) (key.MachinePublic, error) {
	keyURL := strings.TrimSuffix(serverURL.String(), "/") + "/key?v=" + strconv.Itoa(int(tailcfg.CurrentCapabilityVersion))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, keyURL, nil)
	if err != nil {
		return key.MachinePublic{}, err
	}
	resp, err := directHTTPClient.Do(req)
	if err != nil {
		return key.MachinePublic{}, err
	}
	defer resp.Body.Close()

	// The client reads at most 64 KiB of the response.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return key.MachinePublic{}, fmt.Errorf("reading %s: %w", keyURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return key.MachinePublic{}, fmt.Errorf("GET %s returned %s: %q", keyURL, resp.Status, truncate(body, 200))
	}
	var keys tailcfg.OverTLSPublicKeyResponse
	if err := json.Unmarshal(body, &keys); err != nil {
		return key.MachinePublic{}, fmt.Errorf("invalid OverTLSPublicKeyResponse JSON from %s: %v: %q", keyURL, err, truncate(body, 200))
	}
	if keys.PublicKey.IsZero() {
		return key.MachinePublic{}, fmt.Errorf("response from %s has no publicKey (a client reports \"control server is too old; no noise key\"): %q", keyURL, truncate(body, 200))
	}
	return keys.PublicKey, nil
}

// dialNoise opens a controlbase connection to the server over the given
// transport ("http" or "websocket"). Errors are *stepError with step "dial"
// or "handshake".
func dialNoise(ctx context.Context, transport string, serverURL *url.URL, machineKey key.MachinePrivate, controlKey key.MachinePublic, logf logger.Logf) (*controlbase.Conn, error) {
	switch transport {
	case "http":
		return dialHTTPUpgrade(ctx, serverURL, machineKey, controlKey, logf)
	case "websocket":
		return dialWebSocket(ctx, serverURL, machineKey, controlKey)
	default:
		return nil, stepErrorf("dial", "unknown transport %q", transport)
	}
}

// dialHTTPUpgrade dials with controlhttp.Dialer, configured as ts2021.NewClient
// configures it for an http:// login URL on a loopback or private host:
// plain HTTP to the URL's port and no HTTPS fallback.
func dialHTTPUpgrade(ctx context.Context, serverURL *url.URL, machineKey key.MachinePrivate, controlKey key.MachinePublic, logf logger.Logf) (*controlbase.Conn, error) {
	// With HTTPS disabled, controlhttp.Dialer keeps waiting after its only
	// attempt fails and returns just "context deadline exceeded". Its debug
	// log line "noise dial (URL, ADDR) = (CONN, ERR)" carries the real
	// error, so turn that log on and cancel the dial as soon as it reports
	// a failure.
	// NOTE: this relies on the log format of tailscale.com v1.92.5. If that
	// changes, a failed dial still ends, but only at the timeout.
	envknob.Setenv("TS_DEBUG_NOISE_DIAL", "true")

	dialCtx, cancelDial := context.WithCancel(ctx)
	defer cancelDial()

	var mu sync.Mutex
	var attemptErr error
	recordAttempt := func(format string, args ...any) {
		if !strings.HasPrefix(format, "noise dial (") || len(args) != 4 {
			return
		}
		if err, ok := args[3].(error); ok && err != nil {
			mu.Lock()
			attemptErr = err
			mu.Unlock()
			cancelDial()
		}
	}

	var observer upgradeObserver
	dialer := &controlhttp.Dialer{
		Hostname:        serverURL.Hostname(),
		HTTPPort:        cmp.Or(serverURL.Port(), "80"),
		HTTPSPort:       controlhttp.NoPort,
		MachineKey:      machineKey,
		ControlKey:      controlKey,
		ProtocolVersion: protocolVersion,
		Dialer:          observer.dial,
		Logf: func(format string, args ...any) {
			recordAttempt(format, args...)
			logf(format, args...)
		},
	}
	clientConn, err := dialer.Dial(dialCtx)
	if err == nil {
		return clientConn.Conn, nil
	}

	mu.Lock()
	if attemptErr != nil {
		err = attemptErr
	}
	mu.Unlock()
	step := "dial"
	if observer.handshakeStarted() {
		step = "handshake"
	}
	return nil, &stepError{step: step, err: fmt.Errorf("POST %s to %s: %w", upgradePath, serverURL.Host, err)}
}

// upgradeObserver wraps the TCP connections that controlhttp dials so that a
// failure can be attributed to the HTTP upgrade or to the Noise handshake.
//
// controlbase's client handshake calls SetDeadline on the switched
// connection before it reads the server's reply (when the context has a
// deadline, which the probe's always has), so the first SetDeadline call
// marks the end of the HTTP upgrade.
type upgradeObserver struct {
	mu      sync.Mutex
	started bool
}

func (o *upgradeObserver) dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &observedConn{Conn: conn, observer: o}, nil
}

func (o *upgradeObserver) handshakeStarted() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.started
}

type observedConn struct {
	net.Conn
	observer *upgradeObserver
}

func (c *observedConn) SetDeadline(t time.Time) error {
	c.observer.mu.Lock()
	c.observer.started = true
	c.observer.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

// dialWebSocket mirrors controlhttp's js/wasm Dialer, which Go builds only
// for GOOS=js: the Noise initiation travels in the query string of a
// WebSocket request to /ts2021 with subprotocol tailscale-control-protocol,
// and binary messages then carry the controlbase byte stream.
func dialWebSocket(ctx context.Context, serverURL *url.URL, machineKey key.MachinePrivate, controlKey key.MachinePublic) (*controlbase.Conn, error) {
	initiation, continueHandshake, err := controlbase.ClientDeferred(machineKey, controlKey, protocolVersion)
	if err != nil {
		return nil, stepErrorf("handshake", "creating the Noise initiation: %w", err)
	}

	wsURL := &url.URL{
		Scheme: "ws",
		Host:   serverURL.Host,
		Path:   upgradePath,
		RawQuery: url.Values{
			controlhttpcommon.HandshakeHeaderName: []string{base64.StdEncoding.EncodeToString(initiation)},
		}.Encode(),
	}
	wsConn, _, err := websocket.Dial(ctx, wsURL.String(), &websocket.DialOptions{
		HTTPClient:      directHTTPClient,
		Subprotocols:    []string{controlhttpcommon.UpgradeHeaderValue},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, stepErrorf("dial", "WebSocket GET %s%s: %w", serverURL.Host, upgradePath, err)
	}
	// Browsers fail a WebSocket whose response omits the requested
	// subprotocol, so the probe does too.
	if got := wsConn.Subprotocol(); got != controlhttpcommon.UpgradeHeaderValue {
		wsConn.CloseNow()
		return nil, stepErrorf("dial", "WebSocket response selected subprotocol %q, expected %q", got, controlhttpcommon.UpgradeHeaderValue)
	}

	// Tailscale's wsconn adapter, like the js client, keeps coder/websocket's
	// default read limit of 32768 bytes per message, so a server that sends
	// larger messages fails here as it would in a browser.
	netConn := wsconn.NetConn(context.Background(), wsConn, websocket.MessageBinary, wsURL.Host)
	conn, err := continueHandshake(ctx, netConn)
	if err != nil {
		netConn.Close()
		return nil, stepErrorf("handshake", "over WebSocket to %s: %w", serverURL.Host, err)
	}
	return conn, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(bytes.Clone(b[:n]), "…"...)
	}
	return b
}
