using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using OpenHgs.Client;
using OpenHgs.Client.ShieldedVms;

namespace OpenHgs.Cli.Commands;

/// <summary>
/// A shielded VM's vTPM on a guarded host (docs/shielded-vms.md): <c>client vm-start</c> releases the transport key
/// and runs swtpm on the encrypted state; <c>client vm-stop</c> stops it and re-seals the state under the egress key.
/// Each holds the bundle's <see cref="BundleLock"/> while it runs (not while the vTPM runs): a second operation on the
/// bundle meanwhile is refused with <c>BundleBusy</c>.
/// </summary>
internal static class ClientVmCommands
{
    public static Command Start()
    {
        var state = CliOptions.State();
        var vm = CliOptions.RequiredPath("--vm", "The shielded VM bundle folder (from 'hgs vm new').");
        var socket = CliOptions.Path("--socket", "Serve the vTPM on this unix control socket, for QEMU (-chardev socket,path=…) or libvirt.");
        var tcpPort = new Option<int?>("--tcp-port") { Description = "Serve the vTPM on 127.0.0.1:PORT instead, control on PORT+1 (tpm2-tools: TPM2TOOLS_TCTI=swtpm:port=PORT); every local user can reach it, so it needs --tcp-open-to-local-users." };
        var openToLocalUsers = new Option<bool>(TcpConsentOption) { Description = "Accept that with --tcp-port every local user (any uid) can send the vTPM commands, reset it or stop it (testing with tpm2-tools only)." };
        var json = CliOptions.Json();
        var command = new Command("vm-start", "Open a shielded VM's vTPM: attest if needed, release its transport key through the KPS, run swtpm on the encrypted state.")
        {
            state, vm, socket, tcpPort, openToLocalUsers, json,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            var channel = Channel(parse.GetValue(socket), parse.GetValue(tcpPort), parse.GetValue(openToLocalUsers));
            if (channel.Socket is { } path && CliOutput.Taken(path))
            {
                throw new CliException($"--socket '{path}' already exists: is another vTPM serving it?");
            }

            string stateFolder = CliOptions.StateFolder(parse.GetValue(state));
            string bundlePath = Path.GetFullPath(parse.GetValue(vm)!);
            using var held = BundleLock.Acquire(bundlePath);

            // A record left by a vTPM that ended without vm-stop (a crash): its state was written by this host's swtpm
            // since the manifest was, so only its presence is checked; swtpm's HMAC still refuses anything else.
            string name = ShieldedVmBundle.Load(bundlePath, stateWrittenSinceStart: true).Manifest.Name;
            var previous = RunningVtpm.Find(stateFolder, name);
            if (previous is not null && VtpmEmulator.IsRunning(previous.Pid))
            {
                throw new VtpmException("VmAlreadyRunning", $"the vTPM of '{name}' already runs on this host (swtpm pid {previous.Pid}, {previous.Channel}); stop it with 'hgs client vm-stop'.");
            }

            bool crashed = previous is not null && previous.Bundle == bundlePath;
            var bundle = ShieldedVmBundle.Load(bundlePath, stateWrittenSinceStart: crashed);
            if (previous is not null)
            {
                RunningVtpm.Remove(stateFolder, name);
            }

            using var client = new GuardedHostClient(stateFolder);
            var outcome = await client.UnlockAsync(bundle.KeyProtectorBytes, ct).ConfigureAwait(false);
            string pidFile = Path.Combine(stateFolder, RunningVtpm.Folder, name + ".pid");
            OpenHgs.Crypto.OwnerOnlyFile.CreateDirectory(Path.GetDirectoryName(pidFile)!);
            int pid;
            try
            {
                pid = VtpmEmulator.Start(bundle.StateDirectory, outcome.TransportKey, channel, pidFile);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(outcome.TransportKey);
                CryptographicOperations.ZeroMemory(outcome.EgressTransportKey);
            }

            var record = new RunningVtpm(name, bundle.Directory, pid, channel.Socket, channel.TcpPort, TimeProvider.System.GetUtcNow());
            record.Save(stateFolder);
            if (parse.GetValue(json))
            {
                CliOutput.Json(new JsonObject
                {
                    ["vm"] = name,
                    ["pid"] = pid,
                    ["socket"] = channel.Socket,
                    ["tcpPort"] = channel.TcpPort,
                });
                return ExitCodes.Success;
            }

            CliOutput.Line($"vTPM of '{name}' running (swtpm pid {pid}) on {channel}.");
            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command Stop()
    {
        var state = CliOptions.State();
        var vm = CliOptions.RequiredPath("--vm", "The shielded VM bundle folder the vTPM was started from.");
        var json = CliOptions.Json();
        var command = new Command("vm-stop", "Stop a shielded VM's vTPM and re-seal its state under the egress transport key, with the egress key protector (a fresh release).")
        {
            state, vm, json,
        };
        command.SetAction((parse, ct) => CliErrors.RunAsync(parse, async () =>
        {
            string stateFolder = CliOptions.StateFolder(parse.GetValue(state));
            string bundlePath = Path.GetFullPath(parse.GetValue(vm)!);
            using var held = BundleLock.Acquire(bundlePath);
            var bundle = ShieldedVmBundle.Load(bundlePath, stateWrittenSinceStart: true);
            string name = bundle.Manifest.Name;
            var record = RunningVtpm.Find(stateFolder, name)
                ?? throw new VtpmException("VmNotRunning", $"no vTPM of '{name}' was started on this host (no {RunningVtpm.PathFor(stateFolder, name)}).");
            if (record.Bundle != bundle.Directory)
            {
                throw new VtpmException("VmNotRunning", $"the vTPM of '{name}' on this host runs from {record.Bundle}, not {bundle.Directory}.");
            }

            if (VtpmEmulator.IsRunning(record.Pid))
            {
                VtpmEmulator.Stop(record.Channel, record.Pid);
            }

            if (record.Socket is { } socketPath)
            {
                File.Delete(socketPath);
            }

            File.Delete(Path.Combine(stateFolder, RunningVtpm.Folder, name + ".pid"));
            OpenHgs.Protocol.ShieldedVms.ShieldedVmManifest resealed;
            try
            {
                using var client = new GuardedHostClient(stateFolder);
                var outcome = await client.UnlockAsync(bundle.KeyProtectorBytes, ct).ConfigureAwait(false);
                try
                {
                    resealed = ShieldedVmBundle.Reseal(bundle, outcome.TransportKey, outcome.EgressKeyProtector, outcome.EgressTransportKey);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(outcome.TransportKey);
                    CryptographicOperations.ZeroMemory(outcome.EgressTransportKey);
                }
            }
            catch (HgsClientException ex)
            {
                // No release, no egress key: the state stays under the current key, and the manifest records it so the
                // bundle opens again where the current key protector is still released.
                ShieldedVmBundle.RecordState(bundle);
                RunningVtpm.Remove(stateFolder, name);
                throw new VtpmException("VtpmNotResealed", $"the vTPM of '{name}' stopped, but its state was not re-sealed: the release was refused ({ex.Code}: {ex.Message}); it stays under the current key protector.");
            }

            RunningVtpm.Remove(stateFolder, name);
            if (parse.GetValue(json))
            {
                CliOutput.Json(new JsonObject
                {
                    ["vm"] = name,
                    ["keyProtectorSha256"] = resealed.KeyProtector.Sha256,
                    ["vtpmStateSha256"] = resealed.Vtpm.State.Sha256,
                    ["guardians"] = new JsonArray(resealed.Guardians.Select(g => (JsonNode)g!).ToArray()),
                });
                return ExitCodes.Success;
            }

            CliOutput.Line($"vTPM of '{name}' stopped; state re-sealed under the egress transport key and the egress key protector stored in {bundle.Directory}.");
            return ExitCodes.Success;
        }));
        return command;
    }

    private const string TcpConsentOption = "--tcp-open-to-local-users";

    private static VtpmChannel Channel(string? socket, int? tcpPort, bool openToLocalUsers)
    {
        if ((socket is null) == (tcpPort is null))
        {
            throw new CliException("give exactly one of --socket PATH (QEMU, libvirt) and --tcp-port PORT (tpm2-tools).");
        }

        if (tcpPort is < 1 or > 65534)
        {
            throw new CliException(string.Create(CultureInfo.InvariantCulture, $"--tcp-port must be from 1 to 65534 (the control channel takes the next port), not {tcpPort}."));
        }

        // Loopback TCP has no notion of who connects (a unix socket is 0600, its owner's alone): any process of any user
        // could send the running VM's vTPM commands, unseal what its PCRs allow, reset its PCRs (swtpm_ioctl -i) or stop it.
        if (tcpPort is not null && !openToLocalUsers)
        {
            throw new CliException($"--tcp-port serves the vTPM on 127.0.0.1, where every local user can send it commands, reset or stop it: use --socket PATH (owner-only) for a VM, or add {TcpConsentOption} to accept that (testing with tpm2-tools).");
        }

        return new VtpmChannel(socket, tcpPort);
    }
}
