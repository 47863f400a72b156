// SIGINT/SIGTERM handling for long commands.
//
// The handlers only set a flag. Long loops call check_interrupted() at their
// safe points (between batches, after a transaction commits); it throws
// Error(Code::interrupted) so the command unwinds, flushes what it holds,
// says so, and exits with 130.
#pragma once

namespace webook {

void install_interrupt_handlers();
bool interrupted();
void check_interrupted();  // throws Error(Code::interrupted) once a signal arrived
void request_interrupt();  // for tests and for stopping from another thread

}  // namespace webook
