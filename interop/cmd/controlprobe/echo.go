package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"tailscale.com/control/controlbase"
	"tailscale.com/control/ts2021"
)

// echoRequest describes the echo streams to send.
type echoRequest struct {
	host    string // :authority of the requests, the login URL's host without port
	path    string
	size    int // body bytes per stream
	streams int
}

// errSecondConnection is returned when the HTTP/2 client requests another
// connection, which it does when the server limits concurrent streams.
var errSecondConnection = errors.New("the HTTP/2 client requested a second connection, but all streams must share the first Noise connection")

// errStreamRetried is returned when the HTTP/2 client tries to send a
// request again. It does so after the server refuses the stream
// (REFUSED_STREAM) or drops the connection, and a retried stream would not
// be concurrent with the others.
var errStreamRetried = errors.New("the HTTP/2 client tried to resend the request, which it does after the server refuses a stream (REFUSED_STREAM) or drops the connection")

// runEchoStreams speaks HTTP/2 over conn as ts2021.Client does and sends
// req.streams POST requests with random bodies at the same time. It returns
// whether the server sent an early payload before HTTP/2.
//
// Each stream writes the first half of its body and then waits until every
// stream has done so before writing the rest. Go's HTTP/2 client sends a
// stream's HEADERS before it reads the body, so no stream can end before all
// of them are open. The probe therefore only succeeds if the server keeps all
// streams open at once on the one Noise connection.
// NOTE: this does not show that the server's handlers run concurrently,
// because an HTTP/2 server may buffer a stream's data before its handler
// reads it (x/net/http2 buffers up to 1 MiB per stream by default).
func runEchoStreams(ctx context.Context, conn *controlbase.Conn, req echoRequest) (earlyPayload bool, err error) {
	// ts2021.Conn consumes the optional early payload before HTTP/2 starts.
	noiseConn := ts2021.NewConn(conn, func() {})
	defer noiseConn.Close()

	var dials atomic.Int32
	transport := &http.Transport{
		Protocols:       new(http.Protocols),
		MaxConnsPerHost: 1,
	}
	// As in ts2021.NewClient: HTTP/2 with prior knowledge, because the
	// Noise layer already encrypts the connection.
	transport.Protocols.SetUnencryptedHTTP2(true)
	transport.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) > 1 {
			return nil, errSecondConnection
		}
		return noiseConn, nil
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	streamCtx, cancelStreams := context.WithCancel(ctx)
	defer cancelStreams()
	halfway := newBarrier(req.streams)

	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		cancelStreams()
	}
	for i := range req.streams {
		body := make([]byte, req.size)
		rand.Read(body)
		wg.Go(func() {
			if err := echoOne(streamCtx, client, req, i+1, body, halfway); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()

	// A server that limits concurrent streams shows up as REFUSED_STREAM, as
	// a retried stream, as a request for a second connection, or as streams
	// that never start before the timeout.
	var se *stepError
	if errors.As(firstErr, &se) && se.step == "http2" {
		arrived := halfway.arrivedCount()
		limited := errors.Is(se.err, errSecondConnection) ||
			errors.Is(se.err, errStreamRetried) ||
			strings.Contains(se.err.Error(), "REFUSED_STREAM") ||
			(arrived < req.streams && ctx.Err() != nil)
		if limited {
			return false, stepErrorf("http2", "the server did not serve %d concurrent streams on one connection (%d of them had started sending): %v", req.streams, arrived, se.err)
		}
	}
	if firstErr != nil {
		return false, firstErr
	}

	payload, err := noiseConn.GetEarlyPayload(ctx)
	if err != nil {
		return false, stepErrorf("http2", "reading the early payload: %w", err)
	}
	return payload != nil, nil
}

// echoOne sends body on one stream and checks that the response echoes it.
func echoOne(ctx context.Context, client *http.Client, req echoRequest, stream int, body []byte, halfway *barrier) error {
	bodyReader, bodyWriter := io.Pipe()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+req.host+req.path, bodyReader)
	if err != nil {
		return stepErrorf("http2", "stream %d: %w", stream, err)
	}
	httpReq.ContentLength = int64(len(body))
	httpReq.GetBody = func() (io.ReadCloser, error) { return nil, errStreamRetried }
	httpReq.Header.Set("Content-Type", "application/octet-stream")

	go writeInTwoHalves(ctx, bodyWriter, body, halfway)

	resp, err := client.Do(httpReq)
	if err != nil {
		bodyReader.CloseWithError(err)
		return stepErrorf("http2", "stream %d: POST %s: %w", stream, req.path, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return stepErrorf("echo", "stream %d: POST %s returned %s, expected 200 OK: %q", stream, req.path, resp.Status, readSnippet(resp.Body))
	}
	got, err := io.ReadAll(io.LimitReader(resp.Body, int64(len(body))+1))
	if err != nil {
		return stepErrorf("http2", "stream %d: reading the response body after %d bytes: %w", stream, len(got), err)
	}
	if !bytes.Equal(got, body) {
		return stepErrorf("echo mismatch", "stream %d: sent %d bytes, received %d, first difference at byte %d", stream, len(body), len(got), firstDifference(got, body))
	}
	return nil
}

// writeInTwoHalves writes the first half of body, waits at halfway for the
// other streams, then writes the rest and closes w. A write fails when the
// HTTP client stops reading the body (the stream ended or was reset), and
// then this goroutine stops without arriving at the barrier.
func writeInTwoHalves(ctx context.Context, w *io.PipeWriter, body []byte, halfway *barrier) {
	half := len(body) / 2
	if _, err := w.Write(body[:half]); err != nil {
		return
	}
	halfway.arrive()
	select {
	case <-halfway.done:
	case <-ctx.Done():
		w.CloseWithError(ctx.Err())
		return
	}
	if _, err := w.Write(body[half:]); err != nil {
		return
	}
	w.Close()
}

// readSnippet returns up to 200 bytes of r for error messages.
func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 200))
	return string(b)
}

func firstDifference(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// barrier releases all waiters once n parties have arrived.
type barrier struct {
	mu      sync.Mutex
	n       int
	arrived int
	done    chan struct{}
}

func newBarrier(n int) *barrier {
	return &barrier{n: n, done: make(chan struct{})}
}

func (b *barrier) arrive() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.arrived++
	if b.arrived == b.n {
		close(b.done)
	}
}

func (b *barrier) arrivedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.arrived
}
