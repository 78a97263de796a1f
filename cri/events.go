package cri

import (
	"fmt"
	"sync"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crishim/crishim/internal/errdefs"
)

// subscriberBuffer is how many events a subscriber may lag behind before it is dropped: a
// slow subscriber never blocks the runtime.
const subscriberBuffer = 1024

// eventBroker fans container events out to GetContainerEvents subscribers.
type eventBroker struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch      chan *runtimeapi.ContainerEventResponse
	dropped bool
}

func newEventBroker() *eventBroker {
	return &eventBroker{subs: map[*subscriber]struct{}{}}
}

// subscribe registers a subscriber; cancel must be called when it leaves.
func (b *eventBroker) subscribe() (*subscriber, func()) {
	s := &subscriber{ch: make(chan *runtimeapi.ContainerEventResponse, subscriberBuffer)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s, func() {
		b.mu.Lock()
		if _, ok := b.subs[s]; ok {
			delete(b.subs, s)
			close(s.ch)
		}
		b.mu.Unlock()
	}
}

// publish delivers ev to every subscriber without blocking; a subscriber whose buffer is full
// is dropped (its stream ends with an error telling it to resubscribe and relist).
func (b *eventBroker) publish(ev *runtimeapi.ContainerEventResponse) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.ch <- ev:
		default:
			s.dropped = true
			delete(b.subs, s)
			close(s.ch)
		}
	}
}

// subscribers returns the number of live subscribers.
func (b *eventBroker) subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// GetContainerEvents streams container lifecycle events (kubelet's evented PLEG) until the
// client goes away. Events are delivered in the order they happened.
func (s *Server) GetContainerEvents(_ *runtimeapi.GetEventsRequest, stream runtimeapi.RuntimeService_GetContainerEventsServer) error {
	sub, cancel := s.events.subscribe()
	defer cancel()
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.ch:
			if !ok {
				return fmt.Errorf("event subscriber fell more than %d events behind and was dropped; resubscribe and relist: %w",
					subscriberBuffer, errdefs.ErrResourceExhausted)
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}
