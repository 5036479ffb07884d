/* fuzz_repl_msg.c - libFuzzer target: replication append messages (repl_msg_parse). */
#include <stddef.h>
#include <stdint.h>

#include "repl_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    repl_msg m;
    char why[256];
    if (repl_msg_parse((const char *)data, size, &m, why, sizeof why) == 0) {
        if (m.leader < 1 || m.epoch < 1 || m.from < 1 || m.head < 0 || m.sent_ms < 0 ||
            m.prev_epoch < 0 || m.commit < 0 || m.safe < 0 || m.lease < 0 || (m.n > 0 && m.entries == NULL) ||
            m.service[0] == '\0')
            __builtin_trap();
        for (size_t i = 0; i < m.n; i++)
            if (m.entries[i].pos != m.from + (int64_t)i || m.entries[i].epoch < 1 ||
                m.entries[i].epoch > m.epoch ||
                !json_object_is_type(m.entries[i].op, json_type_object))
                __builtin_trap();
        repl_msg_free(&m);
    }
    return 0;
}
