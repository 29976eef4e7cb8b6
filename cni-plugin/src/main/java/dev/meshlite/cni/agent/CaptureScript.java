package dev.meshlite.cni.agent;

import dev.meshlite.cni.rules.CaptureConfig;
import dev.meshlite.cni.rules.InpodRules;
import java.util.List;

/**
 * The shell scripts {@link Capture} runs inside a pod's network namespace, built by pure code:
 * one {@code sh} per pod and direction, so the agent spawns one process per pod instead of one
 * per rule (a spawn from the JVM plus {@code nsenter} cost more than the tools themselves).
 *
 * <p>Applying stays idempotent the way it was: the rules come from {@link InpodRules} unchanged
 * (the golden text, which declares and so flushes our own chains), and every jump is added only
 * when the namespace does not hold it yet, as read in the same script ({@code iptables-save}
 * once); the missing jumps go into the same {@code iptables-restore} as the chains, as extra
 * table sections after the golden ones. The route is replaced and the routing rule added in one
 * {@code ip -batch}; the kernel refuses a second copy of the rule, and only then is
 * {@code ip rule show} read. A fresh namespace costs {@code nsenter}, {@code sh},
 * {@code iptables-save}, {@code iptables-restore} and one {@code ip}. Removing ignores what is
 * not there.
 */
final class CaptureScript {

    private CaptureScript() {
    }

    static String apply(CaptureConfig c, Capture.Backend backend) {
        StringBuilder s = new StringBuilder("set -eu\nnl='\n'\n");
        if (backend == Capture.Backend.IPTABLES) {
            // The jumps present now, as "|*table -A CHAIN -j TARGET|", read with shell builtins only.
            s.append("saved=$(iptables-save)\n")
                    .append("have= table=\n")
                    .append("while IFS= read -r line; do\n")
                    .append("  case $line in\n")
                    .append("    '*'*) table=$line ;;\n")
                    .append("    '-A '*) have=\"$have|$table $line|\" ;;\n")
                    .append("  esac\n")
                    .append("done <<EOF\n$saved\nEOF\n")
                    .append("rules=").append(quote(InpodRules.iptables(c))).append('\n');
            for (List<String> jump : InpodRules.iptablesJumps()) {
                String table = "*" + jump.get(1);
                String rule = "-A " + String.join(" ", jump.subList(2, jump.size()));
                s.append("case $have in *").append(quote("|" + table + " " + rule + "|")).append("*) ;; *) rules=\"$rules\"")
                        .append(quote(table + "\n" + rule + "\nCOMMIT\n")).append(" ;; esac\n");
            }
            s.append("printf '%s' \"$rules\" | iptables-restore --noflush\n");
        } else {
            s.append("printf '%s' ").append(quote(InpodRules.nftables(c))).append(" | nft -f -\n");
        }
        // One `ip` for both: the route first ("replace" is idempotent; a table nobody looks up yet
        // is harmless), then the rule, which the kernel refuses as a duplicate (EEXIST). Only
        // then, on a re-apply, a second `ip` reads the rules to tell "already there" from a failure.
        List<List<String>> routes = InpodRules.routes(c);
        List<String> route = new java.util.ArrayList<>(routes.get(1));
        route.set(route.indexOf("add"), "replace");
        String table = Integer.toString(c.routeTable());
        s.append("if ! printf '%s\\n' ").append(quote(batchLine(route))).append(' ').append(quote(batchLine(routes.get(0))))
                .append(" | ip -4 -batch - 2>/dev/null; then\n")
                .append("  case \"$(ip -4 rule show)\" in *").append(quote("lookup " + table)).append("*) ;; *) ")
                .append(command("ip", routes.get(0))).append(" ;; esac\n")
                .append("fi\n");
        return s.toString();
    }

    static String remove(CaptureConfig c, Capture.Backend backend) {
        StringBuilder s = new StringBuilder("set -u\n");
        if (backend == Capture.Backend.IPTABLES) {
            for (List<String> jump : InpodRules.iptablesJumps()) {
                // every copy goes
                s.append("while iptables -t ").append(jump.get(1)).append(" -D ")
                        .append(String.join(" ", jump.subList(2, jump.size()))).append(" 2>/dev/null; do :; done\n");
            }
            for (String table : List.of("nat", "mangle")) {
                for (String chain : List.of(InpodRules.PRERT, InpodRules.OUTPUT)) {
                    s.append("iptables -t ").append(table).append(" -F ").append(chain).append(" 2>/dev/null\n")
                            .append("iptables -t ").append(table).append(" -X ").append(chain).append(" 2>/dev/null\n");
                }
            }
        } else {
            s.append("nft delete table inet istio-inpod 2>/dev/null\n");
        }
        for (List<String> r : InpodRules.routesRemoval(c)) {
            s.append(command("ip", r)).append(" 2>/dev/null\n");
        }
        return s.append("exit 0\n").toString();
    }

    /** A line of {@code ip -4 -batch}: the command's arguments without the "-4" the batch already has. */
    private static String batchLine(List<String> args) {
        if (!args.getFirst().equals("-4")) {
            throw new IllegalArgumentException("not an IPv4 ip command: " + args);
        }
        return String.join(" ", args.subList(1, args.size()));
    }

    private static String command(String tool, List<String> args) {
        StringBuilder s = new StringBuilder(tool);
        args.forEach(a -> s.append(' ').append(quote(a)));
        return s.toString();
    }

    /** {@code text} as one single-quoted shell word. */
    static String quote(String text) {
        return "'" + text.replace("'", "'\\''") + "'";
    }
}
