# Bazar - one hand-written Makefile: build, run, test.
#
#   make run     install missing packages, build, start everything in the foreground
#   make test    install missing packages, build, run every test suite
#   make start | stop | status | reload   run in the background
#
# Objects go to build/<flavour>/, programs to bin/ (bin-asan/ for the
# sanitizer flavour used by `make test-asan`).

CC       ?= cc
OPT      ?= -O2
CFLAGS   += $(EXTRA) -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -Wshadow \
            -Wstrict-prototypes -Wformat=2 -MMD -MP -Ifcgi
LDFLAGS  += $(EXTRA)
LDLIBS   += -lfcgi -lsqlite3 -lhiredis -ljson-c -lcurl -lpthread -lm
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

FLAVOUR  ?= release
B        := build/$(FLAVOUR)
BIN      ?= bin

FCGI_SRC     := $(wildcard fcgi/*.c)
CATALOG_SRC  := $(wildcard catalog/*.c)
ORDER_SRC    := $(wildcard order/*.c)
FRONTEND_SRC := $(wildcard frontend/*.c)
CLI_SRC      := $(wildcard cli/*.c)
UNIT_SRC     := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(B)/%.o,$(1))
# Each service's schema.sql is compiled in as a string: <service>_schema_sql.
sqlobj = $(B)/gen/$(1)/schema_sql.o

PROGRAMS := $(BIN)/catalog $(BIN)/order $(BIN)/frontend
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))

.PRECIOUS: $(B)/gen/%_sql.c
.PHONY: all deps run start stop status reload test unit unit-asan test-asan blackbox clean
all: $(PROGRAMS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/gen/%_sql.c: %.sql
	@mkdir -p $(dir $@)
	{ printf 'const char %s[] =\n' '$(subst /,_,$*)_sql'; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; printf ';\n'; } > $@

$(B)/gen/%.o: $(B)/gen/%.c
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libbazar.a: $(call obj,$(FCGI_SRC))
	$(AR) rcs $@ $^

$(BIN)/catalog: $(call obj,$(CATALOG_SRC)) $(call sqlobj,catalog) $(B)/libbazar.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/order: $(call obj,$(ORDER_SRC)) $(call sqlobj,order) $(B)/libbazar.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/frontend: $(call obj,$(FRONTEND_SRC)) $(B)/libbazar.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libbazar.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.a,$^) -lcmocka $(LDLIBS)

deps:
	@bash deploy/deps.sh

run: deps all
	@bash deploy/run.sh

start: all
	@bash deploy/start.sh
stop:
	@bash deploy/stop.sh
status:
	@bash deploy/status.sh
reload:
	@bash deploy/reload.sh

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# Unit tests again with AddressSanitizer + UndefinedBehaviorSanitizer.
unit-asan:
	@$(MAKE) --no-print-directory FLAVOUR=asan OPT=-O1 EXTRA='$(SAN)' unit

# The services built with sanitizers, into bin-asan/ (used by test-asan).
asan-programs:
	@$(MAKE) --no-print-directory FLAVOUR=asan OPT=-O1 EXTRA='$(SAN)' BIN=bin-asan all

blackbox: all
	@cd tests/blackbox && /usr/bin/python3 -m pytest -q -p no:cacheprovider

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory blackbox

clean:
	rm -rf build bin bin-asan

-include $(shell find build -name '*.d' 2>/dev/null)
