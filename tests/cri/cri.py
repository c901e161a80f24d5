#!/usr/bin/python3
"""A CRI client for the tests, as the kubelet would call the runtime, and an OCI image builder.

  cri.py call SOCKET SERVICE/METHOD [REQUEST]   request JSON (the argument, else stdin) -> response
                                                JSON on stdout
      SERVICE is RuntimeService or ImageService; the request and response are the CRI messages
      METHOD + "Request" / METHOD + "Response" of runtime_v1.proto (next to this file), in
      protobuf's JSON mapping (the field names crictl's pod and container configs use).
      An RPC error exits 1 with "cri: METHOD: CODE: details" on stderr.
  cri.py image LAYER_TAR OUT_TAR NAME CMD...
      Writes an OCI image archive (image-layout 1.0.0, one uncompressed layer, linux/amd64 config
      with CMD as its command) that `ctr images import` takes, named NAME.

Needs Debian's python3-grpcio and python3-grpc-tools (protoc and the protobuf runtime).
"""
import hashlib
import importlib
import io
import json
import os
import platform
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = "runtime_v1.proto"


def load_messages(work):
    from grpc_tools import protoc

    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    args = ["protoc", "-I" + HERE, "-I" + include, "--python_out=" + work, os.path.join(HERE, PROTO)]
    if protoc.main(args) != 0:
        raise SystemExit("cri: protoc failed on " + PROTO)
    sys.path.insert(0, work)
    return importlib.import_module("runtime_v1_pb2")


def call(socket, method, text):
    import grpc
    from google.protobuf import json_format

    service, _, name = method.partition("/")
    if service not in ("RuntimeService", "ImageService") or not name:
        raise SystemExit("cri: METHOD is RuntimeService/<name> or ImageService/<name>, not " + method)
    with tempfile.TemporaryDirectory(prefix="ipctrace-cri-") as work:
        pb = load_messages(work)
        request_type = getattr(pb, name + "Request", None)
        response_type = getattr(pb, name + "Response", None)
        if request_type is None or response_type is None:
            raise SystemExit("cri: " + name + " is not in " + PROTO)
        request = json_format.Parse(text or "{}", request_type())
        with grpc.insecure_channel("unix://" + socket) as channel:
            stub = channel.unary_unary(
                "/runtime.v1." + service + "/" + name,
                request_serializer=request_type.SerializeToString,
                response_deserializer=response_type.FromString,
            )
            try:
                response = stub(request, timeout=120)
            except grpc.RpcError as e:
                sys.stderr.write("cri: %s: %s: %s\n" % (name, e.code().name, e.details()))
                return 1
        sys.stdout.write(json_format.MessageToJson(response, preserving_proto_field_name=True) + "\n")
    return 0


def blob(out, data, media_type):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest.split(":")[1])
    info.size = len(data)
    info.mode = 0o644
    out.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def image(layer_tar, out_tar, name, cmd):
    with open(layer_tar, "rb") as f:
        layer = f.read()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    with tarfile.open(out_tar, "w") as out:
        layer_desc = blob(out, layer, "application/vnd.oci.image.layer.v1.tar")
        config_desc = blob(out, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer_desc]}
        manifest_desc = blob(out, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
        manifest_desc["annotations"] = {"io.containerd.image.name": name,
                                        "org.opencontainers.image.ref.name": name.rpartition(":")[2]}
        manifest_desc["platform"] = {"architecture": arch, "os": "linux"}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [manifest_desc]}
        for file_name, data in (("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
                                ("index.json", json.dumps(index).encode())):
            info = tarfile.TarInfo(file_name)
            info.size = len(data)
            info.mode = 0o644
            out.addfile(info, io.BytesIO(data))
    return 0


def main(argv):
    if len(argv) in (4, 5) and argv[1] == "call":
        return call(argv[2], argv[3], argv[4] if len(argv) == 5 else sys.stdin.read())
    if len(argv) >= 6 and argv[1] == "image":
        return image(argv[2], argv[3], argv[4], argv[5:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
