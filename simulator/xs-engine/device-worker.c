/*
 * An XS machine created with a device's sizes, for running device code with the stack it has on
 * the board. xsnap-worker (from @agoric/xsnap) fixes its creation at 4096 stack slots and 32 MB of
 * chunks, so a stack overflow at a manifest's `creation.stack` would never show there. This host
 * links the same compiled engine (XS and xsnap's platform layer), takes every creation size from
 * its arguments and speaks the protocol simulator/xs-engine/worker.ts drives (netstrings on fds 3 and 4):
 *   in:  e<script> evaluate, ?<bytes> call handleCommand(ArrayBuffer), /<bytes> answer to issueCommand, q quit
 *   out: .<meter JSON>\1<reply> done, !<message> uncaught exception, ?<bytes> issueCommand
 *   in:  L: the code is loaded, the device's stack limit applies from now on
 * On a device the modules are separate and the preloaded ones ran at build time; a test bundle is
 * one script whose top level holds every module's bindings in one frame, far deeper than anything
 * the device runs. So the machine starts with `loadingStackSlots` more and `L` takes them away
 * (the stack's bottom moves up to STACK_SLOTS below its top) once the bundle has run.
 * The meter adds `stackPeak`, the most stack slots in use since `L`: the free stack is painted
 * with a pattern and the deepest slot below the top that no longer holds it is the high-water
 * mark, the figure Moddable's instruments call "stack peak", counted the same way from the top.
 * (XS borrows free stack from the bottom up as scratch for RegExp and number conversion, which
 * the scan from the top does not count until it meets the stack.)
 *
 * Usage: device-worker STACK_SLOTS CHUNK_BYTES CHUNK_INCREMENT HEAP_SLOTS HEAP_INCREMENT KEYS
 * Exits 12 on a stack overflow, 11 when memory runs out (the codes xsnap-worker uses).
 */
#include "xsAll.h"
#include "xsnap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { exitUsage = 1, exitIo = 2, exitMemory = 11, exitStackOverflow = 12, exitException = 15, exitKeys = 16 };

/* Netstrings longer than this are refused: 64 MB, as the Node side allows. */
#define maxMessageBytes (64 * 1024 * 1024)

static const unsigned char paint = 0xa5;
static const long loadingStackSlots = 4096;

static FILE* fromHost;
static FILE* toHost;

extern void modInstallTextDecoder(xsMachine* the);
extern void modInstallTextEncoder(xsMachine* the);
extern xsIntegerValue fxGetCurrentHeapCount(xsMachine* the);

static void fail(const char* what)
{
	fprintf(stderr, "device-worker: %s\n", what);
	exit(exitIo);
}

/* Reads one netstring into a fresh buffer (NUL-terminated for convenience); NULL at end of input. */
static char* readNetstring(size_t* length)
{
	size_t size = 0;
	int c;
	while ((c = fgetc(fromHost)) != ':') {
		if (c == EOF && size == 0) return NULL;
		if (c < '0' || c > '9' || size > maxMessageBytes / 10) fail("malformed netstring length");
		size = size * 10 + (size_t)(c - '0');
	}
	if (size > maxMessageBytes) fail("netstring too long");
	char* buffer = malloc(size + 1);
	if (!buffer) fail("out of memory for a netstring");
	if (fread(buffer, 1, size, fromHost) != size || fgetc(fromHost) != ',') fail("truncated netstring");
	buffer[size] = 0;
	*length = size;
	return buffer;
}

static void writeNetstring(const char* prefix, size_t prefixLength, const char* body, size_t bodyLength)
{
	if (fprintf(toHost, "%zu:", prefixLength + bodyLength) < 0 || fwrite(prefix, 1, prefixLength, toHost) != prefixLength ||
		(bodyLength && fwrite(body, 1, bodyLength, toHost) != bodyLength) || fputc(',', toHost) == EOF || fflush(toHost))
		fail("cannot write to the host");
}

static int painted(const txSlot* slot)
{
	const unsigned char* byte = (const unsigned char*)slot;
	for (size_t i = 0; i < sizeof(txSlot); i++)
		if (byte[i] != paint) return 0;
	return 1;
}

/* Slots from the top down to the first one still painted: every push writes its slot. */
static size_t stackPeak(xsMachine* the)
{
	txSlot* slot = the->stack;
	while (slot > the->stackBottom && !painted(slot - 1)) slot--;
	return (size_t)(the->stackTop - slot);
}

/* Moves the stack's bottom up to `slots` below its top and paints what is free. */
static void limitStack(xsMachine* the, long slots)
{
	txSlot* bottom = the->stackTop - slots;
	if (bottom > the->stack) {
		fprintf(stderr, "device-worker: %ld stack slots are in use at rest, more than the device's %ld\n", (long)(the->stackTop - the->stack), slots);
		exit(exitStackOverflow);
	}
	the->stackBottom = bottom;
	memset(bottom, paint, (size_t)((char*)the->stack - (char*)bottom));
}

static void xs_issueCommand(xsMachine* the)
{
	xsIntegerValue length = xsGetArrayBufferLength(xsArg(0));
	writeNetstring("?", 1, xsToArrayBuffer(xsArg(0)), (size_t)length);
	size_t answerLength;
	char* answer = readNetstring(&answerLength);
	if (!answer || answerLength == 0 || answer[0] != '/') fail("expected an answer to issueCommand");
	xsResult = xsArrayBuffer(answer + 1, (xsIntegerValue)(answerLength - 1));
	free(answer);
}

static void xs_gc(xsMachine* the)
{
	xsCollectGarbage();
}

static void xs_print(xsMachine* the)
{
	xsIntegerValue count = xsToInteger(xsArgc);
	for (xsIntegerValue i = 0; i < count; i++) fprintf(stdout, i ? " %s" : "%s", xsToString(xsArg(i)));
	fputc('\n', stdout);
	fflush(stdout);
}

static xsBooleanValue unmetered(xsMachine* the, xsUnsignedValue index)
{
	return 1;
}

static void writeMeter(xsMachine* machine, const char* reply, size_t replyLength)
{
	char meter[160];
	int meterLength = snprintf(meter, sizeof(meter), ".{\"currentHeapCount\":%ld,\"compute\":%lu,\"allocate\":%lu,\"stackPeak\":%zu}\1",
		(long)fxGetCurrentHeapCount(machine), (unsigned long)xsGetCurrentMeter(machine), (unsigned long)machine->allocatedSpace,
		stackPeak(machine));
	writeNetstring(meter, (size_t)meterLength, reply, replyLength);
}

/* Runs one `e` or `?` request as a crank: the call, then every promise job, then the reply. */
static void crank(xsMachine* machine, char command, char* body, size_t length)
{
	int failed = 0;
	char* reply = NULL;
	xsIntegerValue replyLength = 0;
	xsSetCurrentMeter(machine, 0);
	xsBeginHost(machine);
	{
		xsVars(3);
		xsTry {
			if (command == '?') {
				xsVar(0) = xsArrayBuffer(body, (xsIntegerValue)length);
				xsVar(1) = xsCall1(xsGlobal, xsID("handleCommand"), xsVar(0));
			}
			else {
				xsVar(0) = xsStringBuffer(body, (xsIntegerValue)length);
				xsVar(1) = xsCall1(xsGlobal, xsID("eval"), xsVar(0));
			}
		}
		xsCatch {
			failed = 1;
			xsVar(1) = xsException;
			xsException = xsUndefined;
		}
		fxRunLoop(machine);
		if (failed) {
			reply = xsToString(xsVar(1));
			replyLength = (xsIntegerValue)strlen(reply);
		}
		else if (xsIsInstanceOf(xsVar(1), xsArrayBufferPrototype)) {
			reply = xsToArrayBuffer(xsVar(1));
			replyLength = xsGetArrayBufferLength(xsVar(1));
		}
		if (failed)
			writeNetstring("!", 1, reply, (size_t)replyLength);
		else
			writeMeter(machine, reply, (size_t)replyLength);
	}
	xsEndHost(machine);
}

static int exitStatus(xsMachine* machine)
{
	switch (machine->abortStatus) {
	case 0: return 0;
	case xsStackOverflowExit: return exitStackOverflow;
	case xsNotEnoughMemoryExit: return exitMemory;
	case xsNoMoreKeysExit: return exitKeys;
	default: return exitException;
	}
}

static long sizeArgument(const char* text)
{
	char* end;
	errno = 0;
	long value = strtol(text, &end, 10);
	return errno || *end || value <= 0 || value > 0x10000000 ? -1 : value;
}

int main(int argc, char* argv[])
{
	long sizes[6];
	if (argc != 7) {
		fprintf(stderr, "usage: device-worker STACK_SLOTS CHUNK_BYTES CHUNK_INCREMENT HEAP_SLOTS HEAP_INCREMENT KEYS\n");
		return exitUsage;
	}
	for (int i = 0; i < 6; i++)
		if ((sizes[i] = sizeArgument(argv[i + 1])) < 0) {
			fprintf(stderr, "device-worker: %s is not a positive size\n", argv[i + 1]);
			return exitUsage;
		}
	xsCreation creation = {
		(xsIntegerValue)sizes[1], /* initialChunkSize */
		(xsIntegerValue)sizes[2], /* incrementalChunkSize */
		(xsIntegerValue)sizes[3], /* initialHeapCount */
		(xsIntegerValue)sizes[4], /* incrementalHeapCount */
		(xsIntegerValue)(sizes[0] + loadingStackSlots), /* stackCount, until L */
		(xsIntegerValue)sizes[5], /* initialKeyCount */
		(xsIntegerValue)sizes[5], /* incrementalKeyCount */
		127, /* nameModulo, Moddable's default */
		127, /* symbolModulo */
		32 * 1024, /* parserBufferSize */
		1993, /* parserTableModulo */
	};
	if (!(fromHost = fdopen(3, "rb")) || !(toHost = fdopen(4, "wb"))) fail("fds 3 and 4 must be open to the host");
	xsInitializeSharedCluster();
	xsMachine* machine = xsCreateMachine(&creation, "device", NULL);
	if (!machine) fail("cannot create the machine");
	xsBeginHost(machine);
	{
		xsVars(1);
		xsVar(0) = xsNewHostFunction(xs_issueCommand, 1);
		xsDefine(xsGlobal, xsID("issueCommand"), xsVar(0), xsDontEnum);
		xsVar(0) = xsNewHostFunction(xs_gc, 0);
		xsDefine(xsGlobal, xsID("gc"), xsVar(0), xsDontEnum);
		xsVar(0) = xsNewHostFunction(xs_print, 1);
		xsDefine(xsGlobal, xsID("print"), xsVar(0), xsDontEnum);
		modInstallTextDecoder(machine);
		modInstallTextEncoder(machine);
	}
	xsEndHost(machine);
	txSlot* allocatedStack = machine->stackBottom;
	memset(allocatedStack, paint, (size_t)((char*)machine->stack - (char*)allocatedStack));

	int done = 0;
	xsBeginMetering(machine, unmetered, 1);
	{
		while (!done) {
			size_t length;
			char* message = readNetstring(&length);
			if (!message) break;
			if (length > 0 && (message[0] == 'e' || message[0] == '?'))
				crank(machine, message[0], message + 1, length - 1);
			else if (length == 1 && message[0] == 'L') {
				limitStack(machine, sizes[0]);
				writeMeter(machine, "", 0);
			}
			else if (length == 1 && message[0] == 'q')
				done = 1;
			else
				fail("unknown request");
			free(message);
		}
	}
	xsEndMetering(machine);
	int status = exitStatus(machine);
	if (status) return status;
	machine->stackBottom = allocatedStack;
	xsDeleteMachine(machine);
	xsTerminateSharedCluster();
	return 0;
}
