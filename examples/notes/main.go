// Command notes is the example notes app: it keeps notes in memory and
// signs people in with a gatehouse running elsewhere. See README.md.
//
//	NOTES_FEED_TOKEN=… go run ./examples/notes --gatehouse http://localhost:8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/examples/notes/notes"
	"github.com/gatehouse/gatehouse/middleware"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "notes:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("notes", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "listen `address`")
	issuer := fs.String("gatehouse", "http://localhost:8080", "gatehouse's public `URL` (its --public-url)")
	audience := fs.String("audience", "gatehouse", "audience of gatehouse's access tokens (its --token-audience)")
	cookie := fs.String("cookie-name", middleware.DefaultCookieName, "gatehouse's session cookie `name` (gatehouse_session with --cookie-secure=false)")
	public := fs.String("public-url", "", "where browsers reach this app (default: from each request)")
	noFeed := fs.Bool("no-feed", false, "run without the revocation feed: logged-out tokens stay valid until they expire")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The feed token is a secret: from the environment, not a flag that
	// every user of the machine can read in the process list.
	feedToken := os.Getenv("NOTES_FEED_TOKEN")
	if feedToken == "" && !*noFeed {
		return errors.New("set NOTES_FEED_TOKEN to gatehouse's --revocation-feed-token " +
			"(or pass --no-feed to accept that logged-out tokens work here until they expire)")
	}
	m, err := middleware.New(ctx, middleware.Config{
		Issuer:      *issuer,
		Audience:    *audience,
		FeedToken:   feedToken,
		AllowNoFeed: *noFeed,
		CookieName:  *cookie,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	defer m.Close()

	srv := &http.Server{
		Handler:           notes.NewApp(notes.Config{Middleware: m, Store: notes.NewStore(), PublicURL: *public}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = m.Run(ctx) })
	log.Info("notes listening", "url", "http://"+ln.Addr().String(), "gatehouse", *issuer)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = srv.Shutdown(shut)
	}
	m.Close()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
