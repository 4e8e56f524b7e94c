/* commands.h - the lutfuse subcommands. Each takes the arguments after the
 * command name (argv[0] is the command) and returns the process exit code:
 * 0 ok, 1 runtime failure (bad file, out of memory), 2 usage error. */
#ifndef LF_COMMANDS_H
#define LF_COMMANDS_H

int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
