// Package mail sends gatehouse's messages (password-reset links) through
// a Mailer: SMTP for production, or a development mailer that writes them
// to the log.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Message is a plain-text mail.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// LogMailer writes messages to the log instead of sending them. It is for
// development only: reset links are secrets, and here they land in the log.
type LogMailer struct{ Log *slog.Logger }

// Send implements Mailer.
func (l LogMailer) Send(ctx context.Context, m Message) error {
	l.Log.WarnContext(ctx, "development mailer: not sending, here is the mail (configure --mail-smtp for real delivery)",
		"to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}

// SMTP sends through an SMTP server with STARTTLS (or implicit TLS for
// smtps://), authenticating with PLAIN when the URL carries a user.
type SMTP struct {
	URL  string // smtp://user:pass@host:587 or smtps://user:pass@host:465
	From string
	// InsecureSkipVerify is for tests against a local server only.
	InsecureSkipVerify bool
}

// Send implements Mailer.
func (s SMTP) Send(ctx context.Context, m Message) error {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
		return errors.New("mail: --mail-smtp must be smtp://[user:pass@]host:port or smtps://…")
	}
	if strings.ContainsAny(m.To+m.Subject+s.From, "\r\n") {
		return errors.New("mail: header injection refused")
	}
	host := u.Hostname()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	d := net.Dialer{Deadline: deadline}
	var conn net.Conn
	tlsCfg := &tls.Config{ServerName: host, InsecureSkipVerify: s.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if u.Scheme == "smtps" {
		conn, err = tls.DialWithDialer(&d, "tcp", u.Host, tlsCfg)
	} else {
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	}
	if err != nil {
		return fmt.Errorf("mail: connect: %w", err)
	}
	conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail: %w", err)
	}
	defer c.Close()
	if u.Scheme == "smtp" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsCfg); err != nil {
				return fmt.Errorf("mail: starttls: %w", err)
			}
		}
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		// net/smtp refuses PLAIN over an unencrypted link except to localhost.
		if err := c.Auth(smtp.PlainAuth("", u.User.Username(), pw, host)); err != nil {
			return fmt.Errorf("mail: auth: %w", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("mail: rcpt: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: data: %w", err)
	}
	body := "From: " + s.From + "\r\nTo: " + m.To + "\r\nSubject: " + m.Subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\n\r\n" + strings.ReplaceAll(m.Text, "\n", "\r\n") + "\r\n"
	if _, err := w.Write([]byte(body)); err != nil {
		return fmt.Errorf("mail: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}
	return c.Quit()
}
