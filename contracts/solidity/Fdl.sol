// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Fdl: FDL's precompiled contracts from Solidity
/// @notice SM3 hashing, SM2 signature checks and the member registry (institution and role of an
/// address), answered by FDL's precompiles at 0x...fd01 to 0x...fd04. Every function is `internal`,
/// so the library is inlined into the contract that uses it: nothing to deploy or link.
/// @dev Each precompile is reached with `staticcall`; a call that fails or answers an unexpected
/// length reverts with a message naming the precompile (on a chain without FDL's precompiles the
/// call reaches an empty account and answers nothing, so it reverts too).
library Fdl {
    /// @notice SM3 (GB/T 32905): input bytes, output the 32-byte digest.
    address internal constant SM3 = address(uint160(0xfd01));
    /// @notice SM2 verify with the default id "1234567812345678":
    /// input `x(32) || y(32) || r(32) || s(32) || message`, output one word, 1 (valid) or 0.
    address internal constant SM2_VERIFY = address(uint160(0xfd02));
    /// @notice SM2 verify with a given id:
    /// input `x || y || r || s || uint256 idlen || id || message`, output one word, 1 or 0.
    address internal constant SM2_VERIFY_WITH_ID = address(uint160(0xfd03));
    /// @notice Identity: input `abi.encode(address)`, output `abi.encode(string institution, string role)`,
    /// both empty for an address that is not a member.
    address internal constant IDENTITY = address(uint160(0xfd04));

    /// @notice The role of an institution's administrators.
    string internal constant ROLE_ADMIN = "admin";
    /// @notice The role of an institution's clients.
    string internal constant ROLE_CLIENT = "client";
    /// @notice The role of an auditor.
    string internal constant ROLE_AUDITOR = "auditor";
    /// @notice The role of a regulator.
    string internal constant ROLE_REGULATOR = "regulator";
    /// @notice The role of a contract's own address.
    string internal constant ROLE_CONTRACT = "contract";

    /// @notice The SM3 digest of `data`.
    /// @param data The bytes to hash.
    /// @return digest The 32-byte SM3 digest.
    function sm3(bytes memory data) internal view returns (bytes32 digest) {
        (bool ok, bytes memory ret) = SM3.staticcall(data);
        require(ok && ret.length == 32, "Fdl: SM3 precompile (0xfd01) failed");
        digest = abi.decode(ret, (bytes32));
    }

    /// @notice Checks an SM2 signature over `message` with the default id ("1234567812345678").
    /// @param x The public key's x coordinate.
    /// @param y The public key's y coordinate.
    /// @param r The signature's r.
    /// @param s The signature's s.
    /// @param message The signed message (not its digest: the precompile hashes it with Z).
    /// @return valid True when the signature is valid.
    function sm2Verify(bytes32 x, bytes32 y, bytes32 r, bytes32 s, bytes memory message)
        internal
        view
        returns (bool valid)
    {
        (bool ok, bytes memory ret) = SM2_VERIFY.staticcall(abi.encodePacked(x, y, r, s, message));
        require(ok && ret.length == 32, "Fdl: SM2 verify precompile (0xfd02) failed");
        valid = abi.decode(ret, (uint256)) == 1;
    }

    /// @notice Checks an SM2 signature over `message` with the signer's distinguishing id `id`.
    /// @param x The public key's x coordinate.
    /// @param y The public key's y coordinate.
    /// @param r The signature's r.
    /// @param s The signature's s.
    /// @param id The signer's id (the Z value's ENTL/ID).
    /// @param message The signed message.
    /// @return valid True when the signature is valid.
    function sm2VerifyWithId(
        bytes32 x,
        bytes32 y,
        bytes32 r,
        bytes32 s,
        bytes memory id,
        bytes memory message
    ) internal view returns (bool valid) {
        (bool ok, bytes memory ret) =
            SM2_VERIFY_WITH_ID.staticcall(abi.encodePacked(x, y, r, s, uint256(id.length), id, message));
        require(ok && ret.length == 32, "Fdl: SM2 verify-with-id precompile (0xfd03) failed");
        valid = abi.decode(ret, (uint256)) == 1;
    }

    /// @notice The institution and role of `who` in FDL's member registry.
    /// @param who The address to look up.
    /// @return org The institution's name, "" when `who` is not a member.
    /// @return role "admin", "client", "auditor", "regulator" or "contract"; "" when not a member.
    function identityOf(address who) internal view returns (string memory org, string memory role) {
        (bool ok, bytes memory ret) = IDENTITY.staticcall(abi.encode(who));
        // Two ABI-encoded strings take at least 4 words (two offsets, two lengths).
        require(ok && ret.length >= 128, "Fdl: identity precompile (0xfd04) failed");
        (org, role) = abi.decode(ret, (string, string));
    }

    /// @notice The institution of `who`.
    /// @param who The address to look up.
    /// @return org The institution's name, "" when `who` is not a member.
    function orgOf(address who) internal view returns (string memory org) {
        (org,) = identityOf(who);
    }

    /// @notice The role of `who`.
    /// @param who The address to look up.
    /// @return role The role, "" when `who` is not a member.
    function roleOf(address who) internal view returns (string memory role) {
        (, role) = identityOf(who);
    }

    /// @notice Whether `who` is a member with the role `role`.
    /// @param who The address to look up.
    /// @param role The role to check, e.g. "admin"; "" is nobody's role (always false).
    /// @return True when `who`'s role is `role`.
    function hasRole(address who, string memory role) internal view returns (bool) {
        return bytes(role).length != 0 && equal(roleOf(who), role);
    }

    /// @notice Whether `who` is an administrator of the institution `org`.
    /// @param who The address to look up.
    /// @param org The institution; "" is nobody's institution (always false).
    /// @return True when `who`'s institution is `org` and its role is "admin".
    function isAdminOf(address who, string memory org) internal view returns (bool) {
        if (bytes(org).length == 0) return false;
        (string memory whoOrg, string memory role) = identityOf(who);
        return equal(whoOrg, org) && equal(role, ROLE_ADMIN);
    }

    /// @notice Whether two strings are equal byte for byte.
    /// @param a One string.
    /// @param b The other.
    /// @return True when `a` and `b` have the same bytes.
    function equal(string memory a, string memory b) internal pure returns (bool) {
        return bytes(a).length == bytes(b).length && keccak256(bytes(a)) == keccak256(bytes(b));
    }
}
