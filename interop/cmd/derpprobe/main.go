// Command derpprobe exercises a DERP relay and STUN server with Tailscale's own
// client code from tailscale.com v1.92.5. derphttp.NewRegionClient dials the
// region's first node over TLS, so a "sha256-raw:" CertName goes through the
// real certificate pinning path. net/stun builds and parses the STUN packets.
//
// Modes:
//
//	exchange  two clients (keys from --key-a and --key-b) wait for ServerInfo,
//	          send --count packets each way and check every one arrives in
//	          order, wait for --keepalives KeepAlive frames on each, then close
//	          B and wait for A to receive PeerGone(B, disconnected).
//	reject    one client (--key-a) connects; the relay must close the
//	          connection without sending ServerInfo.
//	stun      send one binding request to --stun and parse the response.
//
// On success it prints one JSON line to stdout. On failure it prints
// "derpprobe: <step>: <error>" to stderr and exits with status 1. Invalid
// flags exit with status 2.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"time"

	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/net/stun"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

type options struct {
	mode       string
	region     *tailcfg.DERPRegion
	keyA       key.NodePrivate
	keyB       key.NodePrivate
	count      int
	size       int
	keepAlives int
	stunAddr   string
	timeout    time.Duration
	verbose    bool
}

// exchangeResult is the JSON line of a successful exchange.
type exchangeResult struct {
	ServerKey string `json:"serverKey"`
	// TLSVersion is the negotiated version, e.g. "TLS 1.3".
	TLSVersion string `json:"tlsVersion"`
	SentEach   int    `json:"sentEach"`
	ReceivedA  int    `json:"receivedByA"`
	ReceivedB  int    `json:"receivedByB"`
	KeepAlives int    `json:"keepAlivesEach"`
	PeerGone   string `json:"peerGone"`
	Reason     int    `json:"peerGoneReason"`
}

type rejectResult struct {
	Rejected bool   `json:"rejected"`
	Error    string `json:"error"`
}

type stunResult struct {
	Address string `json:"address"`
	Local   string `json:"local"`
}

type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func stepErrorf(step, format string, args ...any) error {
	return &stepError{step: step, err: fmt.Errorf(format, args...)}
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "derpprobe: %v\n", err)
		}
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout)
	defer cancel()

	var res any
	switch opts.mode {
	case "exchange":
		res, err = runExchange(ctx, opts)
	case "reject":
		res, err = runReject(ctx, opts)
	case "stun":
		res, err = runSTUN(ctx, opts)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "derpprobe: %v\n", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintf(os.Stderr, "derpprobe: writing result: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("derpprobe", flag.ContinueOnError)
	mode := fs.String("mode", "exchange", "exchange, reject or stun")
	regionJSON := fs.String("region", "", "the DERP region as tailcfg.DERPRegion JSON (required for exchange and reject)")
	keyA := fs.String("key-a", "", "node private key of client A, privkey:<64 hex digits>; random when empty")
	keyB := fs.String("key-b", "", "node private key of client B, privkey:<64 hex digits>; random when empty")
	count := fs.Int("count", 50, "packets each client sends in exchange mode")
	size := fs.Int("size", 1200, "bytes per packet, at most 65536")
	keepAlives := fs.Int("keepalives", 1, "KeepAlive frames each client must receive in exchange mode")
	stunAddr := fs.String("stun", "", "STUN server HOST:PORT (required for stun mode)")
	timeout := fs.Duration("timeout", 30*time.Second, "time limit for the whole probe")
	verbose := fs.Bool("verbose", false, "log Tailscale's client messages to stderr")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q; all options are flags", fs.Args())
	}
	opts := options{mode: *mode, count: *count, size: *size, keepAlives: *keepAlives, stunAddr: *stunAddr, timeout: *timeout, verbose: *verbose}

	switch opts.mode {
	case "exchange", "reject":
		if *regionJSON == "" {
			return options{}, errors.New("missing --region; pass the DERP region JSON from the coordinator's DERP map")
		}
		opts.region = new(tailcfg.DERPRegion)
		if err := json.Unmarshal([]byte(*regionJSON), opts.region); err != nil {
			return options{}, fmt.Errorf("invalid --region JSON: %v", err)
		}
		if len(opts.region.Nodes) == 0 {
			return options{}, errors.New("invalid --region: it has no nodes")
		}
	case "stun":
		if opts.stunAddr == "" {
			return options{}, errors.New("missing --stun HOST:PORT")
		}
	default:
		return options{}, fmt.Errorf("invalid --mode %q; use exchange, reject or stun", opts.mode)
	}
	if opts.size < 1 || opts.size > derp.MaxPacketSize {
		return options{}, fmt.Errorf("invalid --size %d; use 1 to %d", opts.size, derp.MaxPacketSize)
	}
	for _, k := range []struct {
		text string
		dst  *key.NodePrivate
		name string
	}{{*keyA, &opts.keyA, "--key-a"}, {*keyB, &opts.keyB, "--key-b"}} {
		if k.text == "" {
			*k.dst = key.NewNode()
			continue
		}
		if err := k.dst.UnmarshalText([]byte(k.text)); err != nil {
			return options{}, fmt.Errorf("invalid %s: %v", k.name, err)
		}
	}
	return opts, nil
}

func (o options) logf() logger.Logf {
	if o.verbose {
		return log.New(os.Stderr, "", log.Lmicroseconds).Printf
	}
	return logger.Discard
}

func newClient(o options, priv key.NodePrivate) *derphttp.Client {
	region := o.region
	c := derphttp.NewRegionClient(priv, o.logf(), netmon.NewStatic(), func() *tailcfg.DERPRegion { return region })
	// tailscaled replies to the relay's pings, so the probe does too.
	c.SetCanAckPings(true)
	return c
}

// receiver runs Recv in a goroutine and hands messages over a channel, so
// each step can wait for what it needs with the probe's deadline.
type receiver struct {
	msgs chan derp.ReceivedMessage
	errs chan error
}

func startReceiver(c *derphttp.Client) *receiver {
	r := &receiver{msgs: make(chan derp.ReceivedMessage, 256), errs: make(chan error, 1)}
	go func() {
		for {
			m, err := c.Recv()
			if err != nil {
				r.errs <- err
				return
			}
			// A packet's Data points into the client's read buffer, which the next Recv reuses.
			if p, ok := m.(derp.ReceivedPacket); ok {
				p.Data = bytes.Clone(p.Data)
				m = p
			}
			r.msgs <- m
		}
	}()
	return r
}

// next returns the next message that is not a KeepAlive, counting KeepAlives.
func (r *receiver) next(ctx context.Context, keepAlives *int) (derp.ReceivedMessage, error) {
	for {
		select {
		case m := <-r.msgs:
			if _, ok := m.(derp.KeepAliveMessage); ok {
				*keepAlives++
				continue
			}
			return m, nil
		case err := <-r.errs:
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func runExchange(ctx context.Context, o options) (*exchangeResult, error) {
	a, b := newClient(o, o.keyA), newClient(o, o.keyB)
	defer a.Close()
	defer b.Close()
	for _, c := range []*derphttp.Client{a, b} {
		if err := c.Connect(ctx); err != nil {
			return nil, &stepError{"connect", err}
		}
	}
	res := &exchangeResult{ServerKey: a.ServerPublicKey().String(), SentEach: o.count}
	if state, ok := a.TLSConnectionState(); ok {
		res.TLSVersion = tlsVersionName(state.Version)
	}

	ra, rb := startReceiver(a), startReceiver(b)
	keepAlivesA, keepAlivesB := 0, 0
	// Both must be registered before packets flow, or the first ones are dropped.
	for _, w := range []struct {
		r *receiver
		k *int
		n string
	}{{ra, &keepAlivesA, "A"}, {rb, &keepAlivesB, "B"}} {
		m, err := w.r.next(ctx, w.k)
		if err != nil {
			return nil, stepErrorf("server info", "client %s: %v", w.n, err)
		}
		if _, ok := m.(derp.ServerInfoMessage); !ok {
			return nil, stepErrorf("server info", "client %s: got %T before ServerInfo", w.n, m)
		}
	}

	packet := func(from string, i int) []byte {
		p := bytes.Repeat([]byte{byte(i)}, o.size)
		copy(p, fmt.Sprintf("%s%06d", from, i))
		return p
	}
	// expectPackets checks that packets first..last-1 from `from` arrive in order and intact.
	expectPackets := func(r *receiver, keepAlives *int, from key.NodePublic, fromName string, first, last int, received *int) error {
		for i := first; i < last; i++ {
			m, err := r.next(ctx, keepAlives)
			if err != nil {
				return err
			}
			p, ok := m.(derp.ReceivedPacket)
			if !ok {
				return fmt.Errorf("packet %d: got %T", i, m)
			}
			if p.Source != from {
				return fmt.Errorf("packet %d: source %v, expected %v", i, p.Source, from)
			}
			if !bytes.Equal(p.Data, packet(fromName, i)) {
				return fmt.Errorf("packet %d: contents differ (out of order or corrupted)", i)
			}
			*received++
		}
		return nil
	}

	// Send in batches that fit the relay's 32-packet queue, then wait for them, both ways.
	const batch = 16
	for first := 0; first < o.count; first += batch {
		last := min(first+batch, o.count)
		for i := first; i < last; i++ {
			if err := a.Send(o.keyB.Public(), packet("A", i)); err != nil {
				return nil, &stepError{"send", err}
			}
			if err := b.Send(o.keyA.Public(), packet("B", i)); err != nil {
				return nil, &stepError{"send", err}
			}
		}
		if err := expectPackets(rb, &keepAlivesB, o.keyA.Public(), "A", first, last, &res.ReceivedB); err != nil {
			return nil, &stepError{"receive at B", err}
		}
		if err := expectPackets(ra, &keepAlivesA, o.keyB.Public(), "B", first, last, &res.ReceivedA); err != nil {
			return nil, &stepError{"receive at A", err}
		}
	}

	// KeepAlives arrive on the relay's own schedule; wait for enough on both.
	for keepAlivesA < o.keepAlives || keepAlivesB < o.keepAlives {
		select {
		case m := <-ra.msgs:
			if _, ok := m.(derp.KeepAliveMessage); ok {
				keepAlivesA++
			}
		case m := <-rb.msgs:
			if _, ok := m.(derp.KeepAliveMessage); ok {
				keepAlivesB++
			}
		case err := <-ra.errs:
			return nil, &stepError{"keepalive", err}
		case err := <-rb.errs:
			return nil, &stepError{"keepalive", err}
		case <-ctx.Done():
			return nil, stepErrorf("keepalive", "got %d and %d KeepAlives, expected %d each: %v", keepAlivesA, keepAlivesB, o.keepAlives, ctx.Err())
		}
	}
	res.KeepAlives = min(keepAlivesA, keepAlivesB)

	// A heard from B, so A must learn that B left.
	b.Close()
	for {
		m, err := ra.next(ctx, &keepAlivesA)
		if err != nil {
			return nil, &stepError{"peer gone", err}
		}
		if gone, ok := m.(derp.PeerGoneMessage); ok {
			if gone.Peer != o.keyB.Public() {
				return nil, stepErrorf("peer gone", "PeerGone for %v, expected %v", gone.Peer, o.keyB.Public())
			}
			res.PeerGone = gone.Peer.String()
			res.Reason = int(gone.Reason)
			return res, nil
		}
	}
}

func runReject(ctx context.Context, o options) (*rejectResult, error) {
	c := newClient(o, o.keyA)
	defer c.Close()
	// Go's client sends ClientInfo without waiting for a reply, so a rejected
	// client connects fine and learns of the rejection on its first Recv.
	if err := c.Connect(ctx); err != nil {
		return &rejectResult{Rejected: true, Error: err.Error()}, nil
	}
	r := startReceiver(c)
	keepAlives := 0
	m, err := r.next(ctx, &keepAlives)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, stepErrorf("reject", "the relay neither admitted nor closed the connection")
	}
	if err != nil {
		return &rejectResult{Rejected: true, Error: err.Error()}, nil
	}
	return nil, stepErrorf("reject", "the relay admitted the client: got %T", m)
}

func runSTUN(ctx context.Context, o options) (*stunResult, error) {
	server, err := netip.ParseAddrPort(o.stunAddr)
	if err != nil {
		return nil, stepErrorf("stun", "invalid --stun %q: %v", o.stunAddr, err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, &stepError{"stun", err}
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)

	tx := stun.NewTxID()
	if _, err := conn.WriteToUDPAddrPort(stun.Request(tx), server); err != nil {
		return nil, &stepError{"stun send", err}
	}
	buf := make([]byte, 1500)
	n, _, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, &stepError{"stun receive", err}
	}
	if !stun.Is(buf[:n]) {
		return nil, stepErrorf("stun parse", "reply of %d bytes is not STUN", n)
	}
	gotTx, addr, err := stun.ParseResponse(buf[:n])
	if err != nil {
		return nil, &stepError{"stun parse", err}
	}
	if gotTx != tx {
		return nil, stepErrorf("stun parse", "transaction ID %x, expected %x", gotTx, tx)
	}
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if addr.Addr().Unmap() != local.Addr().Unmap() || addr.Port() != local.Port() {
		return nil, stepErrorf("stun parse", "mapped address %v, expected the probe's own %v", addr, local)
	}
	return &stunResult{Address: addr.String(), Local: local.String()}, nil
}

func tlsVersionName(v uint16) string {
	switch v {
	case 0x0304:
		return "TLS 1.3"
	case 0x0303:
		return "TLS 1.2"
	}
	return fmt.Sprintf("0x%04x", v)
}
