package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/khive-go/khive/app/gateway/admission"
	"github.com/khive-go/khive/providers/openai"
)

// items are the output items the gateway gave a client key translating
// Responses requests, kept in the admission store (the process's memory,
// or Redis, shared by every replica) so that a later request can name
// them by item_reference. Items of responses passed through are the
// provider's to keep.
type items struct {
	store admission.Store
	log   *zap.Logger
}

// keep records the items of a response given to key.
func (c items) keep(ctx context.Context, key *admission.Key, output []openai.OutputItem) {
	kept := make([]admission.Item, 0, len(output))
	for _, it := range output {
		if b, err := json.Marshal(it); err == nil && it.ID != "" {
			kept = append(kept, admission.Item{ID: it.ID, JSON: b})
		}
	}
	if len(kept) == 0 {
		return
	}
	if err := c.store.KeepItems(ctx, key, kept); err != nil {
		c.log.Debug("output items not kept for item_reference", zap.String("key", keyLabel(key)), zap.Error(err))
	}
}

// resolve replaces the item_reference items of a Responses input with the
// items they name, those the gateway gave key; a reference to anything
// else is an error naming it.
func (c items) resolve(ctx context.Context, key *admission.Key, input json.RawMessage) (json.RawMessage, error) {
	var list []json.RawMessage
	if json.Unmarshal(input, &list) != nil {
		return input, nil // a string, or not an array: the translation says what is wrong
	}
	changed := false
	for i, raw := range list {
		var ref struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if json.Unmarshal(raw, &ref) != nil || ref.Type != "item_reference" {
			continue
		}
		field := fmt.Sprintf("input[%d].id", i)
		item, ok, err := c.store.Item(ctx, key, ref.ID)
		switch {
		case errors.Is(err, admission.ErrStoreUnavailable) || (err != nil && ctx.Err() == nil):
			return nil, &apiError{status: http.StatusServiceUnavailable, typ: "api_error", param: field,
				message: fmt.Sprintf("item_reference %q cannot be resolved now: the store of output items is unavailable; retry, or send the item itself", truncate(ref.ID))}
		case err != nil:
			return nil, err
		case !ok:
			return nil, badRequest(field,
				"item_reference %q names no item this gateway gave this key in the last %v; send the item itself", truncate(ref.ID), admission.ItemsTTL)
		}
		list[i], changed = item, true
	}
	if !changed {
		return input, nil
	}
	return json.Marshal(list)
}
