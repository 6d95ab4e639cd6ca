/*
 * Starts DynamoDB Local bound to one host address (default 127.0.0.1) instead of every interface.
 *
 * DynamoDB Local's own ServerRunner has no host option: its Jetty server listens on *:port. This
 * launcher builds the server with DynamoDB Local's public factory, sets the host of Jetty's network
 * connectors before start, then starts it. Compiled by start.sh (javac) into .dynamodb-local/classes.
 *
 * Usage: java -Djava.library.path=LIB -cp "LIB/*:CLASSES" LoopbackServerRunner [-host ADDR] <DynamoDB Local options>
 */
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;

import org.eclipse.jetty.server.AbstractNetworkConnector;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackServerRunner {
    private LoopbackServerRunner() {
    }

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if ("-host".equals(args[i]) && i + 1 < args.length) {
                host = args[++i];
            } else {
                rest.add(args[i]);
            }
        }
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(rest.toArray(new String[0]));
        // The Jetty server is a private field; reflection is the only way in without patching the jar.
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        int bound = 0;
        for (Connector connector : server.getConnectors()) {
            if (connector instanceof AbstractNetworkConnector) {
                ((AbstractNetworkConnector) connector).setHost(host);
                bound++;
            }
        }
        if (bound == 0) {
            System.err.println("LoopbackServerRunner: no network connector found to bind to " + host);
            System.exit(2);
        }
        System.out.println("LoopbackServerRunner: binding DynamoDB Local to " + host);
        proxy.start();
        proxy.join();
    }
}
